import assert from "node:assert/strict";
import { peerTest } from "../testing/peers.ts";
import { readEvents } from "./events.ts";
import { CheckAnalyzer } from "./check.ts";
import { StatsAnalyzer } from "./stats.ts";
import { renderReportHtml } from "./report_html.ts";
import { cleanFixture, violationFixtures, workloadFixture } from "./_fixtures.ts";
import { loadChartJs } from "../cli/commands/report.ts";

async function reportOf(bytes: Uint8Array, chartJs: string): Promise<string> {
  const stats = new StatsAnalyzer({ top: 15, maxBuckets: 256 });
  const check = new CheckAnalyzer();
  const events = readEvents([bytes]);
  for await (const ev of events) {
    stats.push(ev);
    check.push(ev);
  }
  return renderReportHtml(stats.finish(events.summary), check.finish(events.summary), {
    chartJs,
    title: "ringside report: test",
  });
}

Deno.test("report: one self-contained page: Chart.js and data inline, nothing loaded from elsewhere", async () => {
  const chartJs = await loadChartJs();
  const html = await reportOf(workloadFixture().bytes, chartJs);
  assert.ok(html.startsWith("<!doctype html>"));
  assert.ok(html.includes(chartJs.slice(0, 200)), "Chart.js is inlined");
  // no element pulls anything in: no src= or href= attributes, no @import, no url()
  assert.doesNotMatch(html.replace(chartJs, ""), /\s(src|href)\s*=|@import|url\(/i);
  // and the content security policy forbids any load should one slip in
  assert.match(html, /default-src 'none'/);
  // the data block cannot end its script element early
  const data = html.slice(html.indexOf('id="ringside-data"'));
  assert.ok(data.indexOf("</script>") > 0);
  assert.doesNotMatch(data.slice(0, data.indexOf("</script>")), /<\//);
  for (
    const id of ["timeline", "throughput", "inflight", "lat0", "topops", "topbytes", "balance"]
  ) {
    assert.ok(html.includes(`<canvas id="${id}">`), id);
  }
  assert.match(html, /Requests never answered/);
  assert.match(html, /GETXATTR/);
  assert.match(html, /No protocol violation in \d+ frames/);
});

Deno.test("report: findings and escaping", async () => {
  const f = violationFixtures().find((x) => x.name === "error_reply_with_body.pcapng")!;
  const html = await reportOf(f.bytes, "/* no chart library */");
  assert.match(html, /<span class="sev error">error<\/span>/);
  assert.match(html, /error_reply_with_body/);
  // a capture with no data moved says so instead of drawing an empty chart
  const clean = await reportOf(cleanFixture().bytes, "");
  assert.ok(clean.includes('<canvas id="timeline">'));
});

/** A minimal Chrome DevTools Protocol client over the page's WebSocket. */
class Cdp {
  #ws: WebSocket;
  #id = 0;
  #waiting = new Map<number, { resolve: (v: unknown) => void; reject: (e: Error) => void }>();
  #listeners: ((method: string, params: Record<string, unknown>) => void)[] = [];

  private constructor(ws: WebSocket) {
    this.#ws = ws;
    ws.onmessage = (m) => {
      const msg = JSON.parse(m.data as string);
      if (msg.id !== undefined) {
        const w = this.#waiting.get(msg.id);
        this.#waiting.delete(msg.id);
        if (msg.error) w?.reject(new Error(`${msg.error.message}`));
        else w?.resolve(msg.result);
      } else for (const l of this.#listeners) l(msg.method, msg.params ?? {});
    };
  }

  static async connect(url: string): Promise<Cdp> {
    const ws = new WebSocket(url);
    await new Promise((resolve, reject) => {
      ws.onopen = resolve;
      ws.onerror = () => reject(new Error(`cannot connect to ${url}`));
    });
    return new Cdp(ws);
  }

  send<T = Record<string, unknown>>(
    method: string,
    params: Record<string, unknown> = {},
  ): Promise<T> {
    const id = ++this.#id;
    this.#ws.send(JSON.stringify({ id, method, params }));
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve: resolve as (v: unknown) => void, reject });
    });
  }

  on(fn: (method: string, params: Record<string, unknown>) => void): void {
    this.#listeners.push(fn);
  }

  waitFor(method: string, timeoutMs: number): Promise<Record<string, unknown>> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(
        () => reject(new Error(`no ${method} in ${timeoutMs} ms`)),
        timeoutMs,
      );
      this.on((m, p) => {
        if (m === method) {
          clearTimeout(timer);
          resolve(p);
        }
      });
    });
  }

  async close(): Promise<void> {
    const closed = new Promise((r) => (this.#ws.onclose = r));
    this.#ws.close();
    await closed;
  }
}

async function startChromium(
  userDataDir: string,
): Promise<{ child: Deno.ChildProcess; port: number }> {
  const child = new Deno.Command("chromium", {
    args: [
      "--headless",
      "--no-sandbox",
      "--disable-gpu",
      "--disable-background-networking",
      "--disable-component-update",
      "--disable-sync",
      "--no-first-run",
      "--hide-scrollbars",
      `--user-data-dir=${userDataDir}`,
      "--remote-debugging-address=127.0.0.1",
      "--remote-debugging-port=0",
      "--window-size=1400,1000",
      "about:blank",
    ],
    stdout: "null",
    stderr: "null",
    stdin: "null",
  }).spawn();
  for (let i = 0; i < 300; i++) {
    try {
      const text = await Deno.readTextFile(`${userDataDir}/DevToolsActivePort`);
      const port = Number(text.split("\n")[0]);
      if (port > 0) return { child, port };
    } catch {
      // not written yet
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  child.kill("SIGKILL");
  await child.status;
  throw new Error("chromium did not open its DevTools port within 30 s");
}

peerTest(
  "report: headless Chromium loads the page with no console error or network request, every chart has pixels; screenshot",
  { needs: ["chromium"] },
  async () => {
    const dir = await Deno.makeTempDir({ prefix: "ringside-report-" });
    const chartJs = await loadChartJs();
    // the hand-built workload, and a real capture (the host kernel through ringside mount)
    const pages = [
      { name: "report", bytes: workloadFixture().bytes },
      {
        name: "host_workload",
        bytes: await Deno.readFile(
          new URL("../testdata/captures/host_workload.pcapng", import.meta.url),
        ),
      },
    ];
    for (const p of pages) {
      await Deno.writeTextFile(`${dir}/${p.name}.html`, await reportOf(p.bytes, chartJs));
    }
    const { child, port } = await startChromium(`${dir}/profile`);
    let cdp: Cdp | undefined;
    try {
      const targets = await (await fetch(`http://127.0.0.1:${port}/json/list`)).json() as {
        type: string;
        webSocketDebuggerUrl: string;
      }[];
      const target = targets.find((t) => t.type === "page");
      assert.ok(target, "a page target");
      cdp = await Cdp.connect(target.webSocketDebuggerUrl);
      const problems: string[] = [];
      const requests: string[] = [];
      cdp.on((method, p) => {
        if (method === "Runtime.consoleAPICalled" && (p.type === "error" || p.type === "assert")) {
          problems.push(`console.${p.type}: ${JSON.stringify(p.args)}`);
        } else if (method === "Runtime.exceptionThrown") {
          problems.push(`exception: ${JSON.stringify(p.exceptionDetails)}`);
        } else if (method === "Log.entryAdded") {
          const e = p.entry as { level: string; text: string };
          if (e.level === "error") problems.push(`log: ${e.text}`);
        } else if (method === "Network.requestWillBeSent") {
          requests.push((p.request as { url: string }).url);
        }
      });
      await cdp.send("Runtime.enable");
      await cdp.send("Log.enable");
      await cdp.send("Network.enable");
      await cdp.send("Page.enable");
      for (const { name } of pages) {
        problems.length = 0;
        requests.length = 0;
        const page = `${dir}/${name}.html`;
        await cdp.send("Emulation.setDeviceMetricsOverride", {
          width: 1400,
          height: 1000,
          deviceScaleFactor: 1,
          mobile: false,
        });
        const loaded = cdp.waitFor("Page.loadEventFired", 20000);
        const url = `file://${page}`;
        await cdp.send("Page.navigate", { url });
        await loaded;
        const probe = await cdp.send<{ result: { value: string } }>("Runtime.evaluate", {
          returnByValue: true,
          expression: `JSON.stringify({
          report: window.__ringsideReport,
          canvases: [...document.querySelectorAll("canvas")].map((c) => {
            const d = c.getContext("2d").getImageData(0, 0, c.width, c.height).data;
            let painted = 0;
            for (let i = 3; i < d.length; i += 4) if (d[i] !== 0) painted++;
            return { id: c.id, width: c.width, height: c.height, painted };
          }),
          height: document.documentElement.scrollHeight,
        })`,
        });
        const result = JSON.parse(probe.result.value) as {
          report?: { ready: boolean; charts: { id: string; points: number }[] };
          canvases: { id: string; width: number; height: number; painted: number }[];
          height: number;
        };
        assert.deepEqual(problems, [], `${name}: no console error`);
        assert.deepEqual(requests, [url], "the page itself is the only request");
        assert.equal(result.report?.ready, true, "the page script ran to its end");
        assert.ok(result.canvases.length >= 10, `${result.canvases.length} canvases`);
        assert.equal(
          result.report!.charts.length,
          result.canvases.length,
          "a chart on every canvas",
        );
        for (const c of result.report!.charts) assert.ok(c.points > 0, `${c.id} has data`);
        for (const c of result.canvases) {
          assert.ok(
            c.width > 100 && c.height > 100,
            `${c.id} is laid out (${c.width}x${c.height})`,
          );
          // axes alone are a few thousand pixels; bars, lines and areas many more
          assert.ok(c.painted > 0.02 * c.width * c.height, `${c.id}: ${c.painted} painted pixels`);
        }
        // a full-page screenshot
        await cdp.send("Emulation.setDeviceMetricsOverride", {
          width: 1400,
          height: result.height,
          deviceScaleFactor: 1,
          mobile: false,
        });
        await new Promise((r) => setTimeout(r, 300)); // charts redraw on resize
        const shot: { data: string } = await cdp.send<{ data: string }>("Page.captureScreenshot", {
          format: "png",
        });
        const png: Uint8Array = Uint8Array.from(atob(shot.data), (ch) => ch.charCodeAt(0));
        assert.deepEqual([...png.subarray(0, 4)], [0x89, 0x50, 0x4e, 0x47]);
        assert.ok(png.length > 50_000, `screenshot of ${png.length} bytes`);
        await Deno.writeFile(`${dir}/${name}.png`, png);
        const keep = Deno.env.get("RINGSIDE_REPORT_SCREENSHOT");
        if (keep) {
          await Deno.writeFile(
            keep.replace(/(\.png)?$/, name === "report" ? "$1" : `_${name}$1`),
            png,
          );
        }
        console.log(`screenshot: ${dir}/${name}.png (${png.length} bytes)`);
      }
    } finally {
      await cdp?.close();
      child.kill("SIGTERM");
      await child.status;
      await Deno.remove(`${dir}/profile`, { recursive: true }).catch(() => {});
    }
  },
);
