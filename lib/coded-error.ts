// An error whose `code` says which of a few known failures it is, so callers
// branch and count on the code rather than on message text.
export class CodedError<Code extends string> extends Error {
  constructor(
    message: string,
    readonly code: Code,
  ) {
    super(message);
    this.name = new.target.name;
  }
}
