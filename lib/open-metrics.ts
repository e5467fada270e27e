// The same metrics in the OpenMetrics text format, for scrapers that ask for
// it (Accept: application/openmetrics-text): only that format carries
// exemplars (the trace id of an observation in a histogram bucket).
//
// prom-client renders one registry in one format, and its OpenMetrics
// rendering renames counter objects in place (`…_total` → `…`), which would
// drop the suffix from later Prometheus-format scrapes of the same objects.
// So the OpenMetrics registry holds views of the metrics, not the metrics.
import { type Metric, type OpenMetricsContentType, Registry } from 'prom-client';

export const OPENMETRICS_CONTENT_TYPE = Registry.OPENMETRICS_CONTENT_TYPE;

type Rendered = Awaited<ReturnType<Metric['get']>>;
interface Renderable {
  get(): Promise<Rendered> | Rendered;
  getForPromString?(): Promise<Rendered> | Rendered;
}

/** A registry that renders `source`'s metrics as OpenMetrics, reading them at each scrape. */
export function openMetricsView(source: Registry): Registry<OpenMetricsContentType> {
  const view = new Registry<OpenMetricsContentType>();
  view.setContentType(Registry.OPENMETRICS_CONTENT_TYPE);
  let known = new Set<unknown>();
  const sync = () => {
    const metrics = source.getMetricsAsArray();
    if (metrics.length === known.size && metrics.every((m) => known.has(m))) return;
    view.clear();
    known = new Set(metrics);
    for (const m of metrics)
      view.registerMetric(viewOf(m as unknown as Renderable & { name: string; type?: unknown }) as unknown as Metric);
  };
  const metrics = view.metrics.bind(view);
  view.metrics = () => {
    sync();
    return metrics();
  };
  return view;
}

function viewOf(m: Renderable & { name: string }): object {
  const render = async (): Promise<Rendered> => {
    const r = await (m.getForPromString ? m.getForPromString() : m.get());
    // Counters: the family is named without `_total`, its samples with it.
    return String(r.type) === 'counter' ? { ...r, name: r.name.replace(/_total$/, '') } : r;
  };
  return {
    name: m.name.replace(/_total$/, ''),
    get: render,
    reset: () => undefined,
  };
}

/** Whether an Accept header asks for OpenMetrics. */
export function wantsOpenMetrics(accept: string | undefined): boolean {
  return accept?.includes('application/openmetrics-text') === true;
}
