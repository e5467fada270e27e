// Where an adapter's session keys and session state come from, picked once
// at start from its options:
//
//   keys:  --session-keys-file (watched) | MCPMESH_SESSION_KEYS | Consul KV
//          (with --consul) | else an ephemeral key: sessions are not portable
//   state: --session-store-dir | Consul KV (with --consul) | else memory
//
// An adapter alone needs none of them: with the ephemeral key and the memory
// store it behaves as before portable ids (its sessions die with it).
import { randomBytes } from 'node:crypto';
import { join } from 'node:path';
import { ConsulHttp } from '../../lib/consul/consul-http.js';
import { componentLogger, type Logger } from '../../lib/log.js';
import { SESSION_KEYS_ENV } from '../../lib/mesh-contracts.js';
import { ConsulEventWindowStore } from './event-window-consul-store.js';
import { DirectoryEventWindowStore } from './event-window-dir-store.js';
import { type EventWindowStore, MemoryEventWindowStore, type WindowBounds } from './event-window-store.js';
import { ConsulKeyRingWatcher, ensureConsulKeyRing, KeyFileWatcher, KeyRing, SessionKey } from './session-keys.js';
import { ConsulSessionStateStore } from './session-state-consul-store.js';
import { DirectorySessionStateStore } from './session-state-dir-store.js';
import { MemorySessionStateStore, type SessionStateStore } from './session-state-store.js';

export interface SessionSourceOptions {
  readonly server: string;
  readonly keysFile: string | undefined;
  /** A key ring as JSON (the MCPMESH_SESSION_KEYS variable). */
  readonly keysJson: string | undefined;
  readonly storeDir: string | undefined;
  readonly consul: { readonly url: string; readonly token?: string | undefined } | undefined;
  readonly logger: Logger;
  /** Bounds of each session's GET-stream replay window. */
  readonly replayBounds?: WindowBounds;
}

export interface SessionSources {
  /** The ring in force now (rotation needs no restart). */
  readonly keys: () => KeyRing | undefined;
  readonly store: SessionStateStore;
  /** Where the keys come from, for logs and the docs' words: file, env, consul or ephemeral. */
  readonly keySource: 'file' | 'env' | 'consul' | 'ephemeral';
  readonly storeKind: 'dir' | 'consul' | 'memory';
  /** The GET streams' replay windows: in the state store's place (a directory, Consul KV or memory). */
  readonly events: EventWindowStore;
  stop(): Promise<void>;
}

export async function openSessionSources(o: SessionSourceOptions): Promise<SessionSources> {
  const log = componentLogger(o.logger, 'session-keys');
  const onError = (message: string) => log.warn(message);
  const onChange = (ring: KeyRing) => log.info({ ring: ring.toJSON() }, 'session key ring changed');
  let keys: () => KeyRing | undefined;
  let keySource: SessionSources['keySource'];
  const stops: Array<() => void | Promise<void>> = [];
  const http =
    o.consul !== undefined
      ? new ConsulHttp({ url: o.consul.url, ...(o.consul.token !== undefined ? { token: o.consul.token } : {}) })
      : undefined;

  if (o.keysFile !== undefined) {
    const watcher = new KeyFileWatcher({ file: o.keysFile, onChange, onError });
    await watcher.start();
    stops.push(() => watcher.stop());
    keys = () => watcher.ring;
    keySource = 'file';
  } else if (o.keysJson !== undefined && o.keysJson.trim() !== '') {
    let ring: KeyRing;
    try {
      ring = KeyRing.parse(o.keysJson);
    } catch (err) {
      throw new Error(`${SESSION_KEYS_ENV}: ${(err as Error).message}`);
    }
    keys = () => ring;
    keySource = 'env';
  } else if (http !== undefined) {
    if (await ensureConsulKeyRing(http, o.server)) log.info('created the session key ring in Consul KV');
    const watcher = new ConsulKeyRingWatcher({ http, server: o.server, onChange, onError });
    watcher.start();
    stops.push(() => watcher.stop());
    try {
      await watcher.ready();
    } catch (err) {
      watcher.stop();
      throw err;
    }
    keys = () => watcher.ring;
    keySource = 'consul';
  } else {
    const ring = new KeyRing([new SessionKey('ephemeral', randomBytes(32), Date.now() - 1, undefined)]);
    keys = () => ring;
    keySource = 'ephemeral';
    o.logger.warn(
      `no session key configured (--session-keys-file, ${SESSION_KEYS_ENV} or --consul): using a key of this process only, so 2025-era sessions are not portable to other replicas or across a restart`,
    );
  }

  let store: SessionStateStore;
  let events: EventWindowStore;
  let storeKind: SessionSources['storeKind'];
  const bounds = o.replayBounds !== undefined ? { bounds: o.replayBounds } : {};
  if (o.storeDir !== undefined) {
    store = new DirectorySessionStateStore({ dir: join(o.storeDir, o.server), onError });
    // Beside the state directories: a server name cannot start with a dot, so no server's state is here.
    events = new DirectoryEventWindowStore({ dir: join(o.storeDir, '.events', o.server), onError, ...bounds });
    storeKind = 'dir';
  } else if (http !== undefined) {
    store = new ConsulSessionStateStore({ http, server: o.server, onError });
    events = new ConsulEventWindowStore({ http, server: o.server, onError, ...bounds });
    storeKind = 'consul';
  } else {
    store = new MemorySessionStateStore();
    events = new MemoryEventWindowStore(bounds);
    storeKind = 'memory';
  }
  if (keySource !== 'ephemeral' && storeKind === 'memory') {
    o.logger.warn(
      'session ids are portable but their state is in this process only (no --session-store-dir or --consul): a replica taking a session over starts it without its logging level and subscriptions',
    );
  }
  return {
    keys,
    store,
    events,
    keySource,
    storeKind,
    async stop() {
      for (const s of stops) await s();
      await store.close();
      await events.close();
      http?.close();
    },
  };
}
