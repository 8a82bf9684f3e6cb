// The inspector in a real browser: Debian's headless chromium, driven by playwright-core.
//
// Started by tests/it/browser.rs, which runs the gateway and its upstreams and passes them here:
//   HOOKGATE_URL    the gateway's listener, where this script posts vendor deliveries
//   ADMIN_URL       the admin listener that serves the inspector
//   ADMIN_TOKEN     admin.token
//   VENDOR_SECRET   the routes' Chamelio signing secret
//   SCREENSHOT      where to write the screenshot of the overview
// Route "docs" delivers to an upstream that answers 200; route "gone" to one that answers its first
// request 410 (the event dead-letters) and 200 after that (its replay is delivered).
//
// Each step waits for what a person would see, with one generous limit; nothing waits a fixed time.
import { chromium } from "playwright-core";
import { createHmac } from "node:crypto";

const env = (name) => {
  const v = process.env[name];
  if (!v) throw new Error(`${name} is not set (this script is run by tests/it/browser.rs)`);
  return v;
};
const HOOKGATE = env("HOOKGATE_URL");
const ADMIN = env("ADMIN_URL");
const TOKEN = env("ADMIN_TOKEN");
const SECRET = env("VENDOR_SECRET");
const SCREENSHOT = env("SCREENSHOT");
const LIMIT = 20_000;

// A Chamelio delivery (vendor-docs/chamelio.txt): hex HMAC-SHA256 of the body in X-Chamelio-Signature.
async function deliver(route, id, secret = SECRET) {
  const body = JSON.stringify({
    event: "core.document.uploaded",
    event_id: id,
    timestamp: new Date().toISOString(),
    data: { document: "contract.pdf", pages: 12 },
  });
  const signature = "sha256=" + createHmac("sha256", secret).update(body).digest("hex");
  const r = await fetch(`${HOOKGATE}/webhooks/${route}`, {
    method: "POST",
    headers: { "content-type": "application/json", "x-chamelio-signature": signature },
    body,
  });
  return { status: r.status, body };
}

function check(ok, what) {
  if (!ok) throw new Error(what);
  console.log("ok -", what);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--disable-background-networking"],
});
const problems = [];
try {
  const page = await browser.newPage({ viewport: { width: 1280, height: 860 } });
  page.setDefaultTimeout(LIMIT);
  page.on("pageerror", (e) => problems.push("page error: " + e.message));
  page.on("console", (m) => { if (m.type() === "error") problems.push("console: " + m.text()); });
  // Anything the page asks of another origin (a CDN, a font) is a failure: it must work offline.
  page.on("request", (r) => { if (!r.url().startsWith(ADMIN)) problems.push("request elsewhere: " + r.url()); });

  // Without the token the page asks for it; with it, the overview shows every route.
  await page.goto(`${ADMIN}/ui/`);
  await page.locator("#login").waitFor({ state: "visible" });
  check(true, "the page asks for the admin token");
  await page.fill("#token", TOKEN);
  await page.click("#login-form button[type=submit]");
  await page.locator('.card[data-route="docs"]').waitFor();
  await page.locator('.card[data-route="gone"]').waitFor();
  await page.locator("#live.on").waitFor();
  check(true, "the token opens the overview, and the live stream is connected");
  // Problems so far are the refused API calls before the token was given: expected, not kept.
  problems.length = 0;

  // A delivery arrives while the events tab is open: it appears by itself, then shows delivered.
  await page.click('button.tab[data-tab="events"]');
  const sent = await deliver("docs", "evt_browser_delivered");
  check(sent.status === 200, `the vendor's delivery is acknowledged (${sent.status})`);
  const row = page.locator("#event-table tbody tr", { hasText: "evt_browser_delivered" });
  await row.locator(".state.delivered").waitFor();
  check(true, "the delivered event appears in the events list without a reload");

  // Its detail: the body as the vendor sent it, pretty-printed, and its raw bytes one click away.
  await row.click();
  await page.locator("#detail").waitFor({ state: "visible" });
  await page.locator("#d-body", { hasText: '"event_id": "evt_browser_delivered"' }).waitFor();
  await page.locator("#d-attempts tbody tr", { hasText: "delivered" }).waitFor();
  const masked = await page.locator("#d-headers tr", { hasText: "x-chamelio-signature" }).innerText();
  check(/masked, 71 bytes/.test(masked), "the detail shows the body, the attempt, and the signature masked");
  await page.click("#raw-toggle");
  await page.waitForFunction((raw) => document.getElementById("d-body").textContent === raw, sent.body);
  check(true, "raw bytes show the body exactly as it was sent");
  const envelope = await page.locator("#d-envelope").innerText();
  check(envelope.includes("evt_browser_delivered"), "the detail shows what is forwarded");

  // An upstream answers 410: the event dead-letters; one click replays it and it is delivered.
  const gone = await deliver("gone", "evt_browser_dead");
  check(gone.status === 200, "the second delivery is acknowledged");
  await page.click('button.tab[data-tab="dead"]');
  const deadRow = page.locator("#dead-table tbody tr", { hasText: "evt_browser_dead" });
  await deadRow.waitFor();
  check((await deadRow.innerText()).includes("410"), "the dead letter is listed with the upstream's 410");
  await deadRow.locator("a").click();
  await page.locator("#d-summary", { hasText: "dead" }).waitFor();
  await page.click("#replay-one");
  await page.locator("#d-attempts tbody tr", { hasText: "delivered" }).waitFor();
  await page.locator("#d-summary dd", { hasText: /^delivered$/ }).waitFor();
  check(true, "Replay delivers the dead letter, and its detail shows the second attempt delivered");

  // A forged delivery: refused, and the Rejections tab says why in words a person can act on.
  const forged = await deliver("docs", "evt_browser_forged", "not-the-signing-secret");
  check(forged.status === 401, `the forged delivery is refused (${forged.status})`);
  await page.click('button.tab[data-tab="rejections"]');
  const reason = page.locator(".rejection .reason", { hasText: "produces the presented signature" });
  await reason.waitFor();
  check(true, "the rejection shows its reason: " + (await reason.first().innerText()));

  // The overview counts all of it; the screenshot shows it.
  await page.click('button.tab[data-tab="overview"]');
  const docs = page.locator('.card[data-route="docs"]');
  await docs.locator(".stat.bad", { hasText: "rejected" }).waitFor();
  await docs.locator(".reasons", { hasText: "invalid_signature 1" }).waitFor();
  await page.waitForFunction(() => {
    const stats = [...document.querySelectorAll('.card[data-route="gone"] .stat')];
    const delivered = stats.find((s) => s.querySelector("span").textContent === "delivered");
    return delivered && delivered.querySelector("b").textContent === "1";
  });
  check(true, "the overview counts the refused request by reason");
  await page.screenshot({ path: SCREENSHOT, fullPage: true });
  check(true, "screenshot written to " + SCREENSHOT);

  check(problems.length === 0, "no script errors and nothing fetched from elsewhere" + (problems.length ? ": " + problems.join("; ") : ""));
} finally {
  await browser.close();
}
