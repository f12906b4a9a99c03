// End-to-end tests of the console in headless Chromium, against a running
// `parcelguard serve --demo`. `cargo xtask browser-test` starts the server,
// passes its address and demo keys in the environment, and runs this file.
//
// Each step saves a screenshot under $PG_SCREENSHOTS. Any failed check
// throws, and the process exits non-zero.
import { chromium } from "playwright-core";
import assert from "node:assert/strict";
import { mkdirSync } from "node:fs";
import { join } from "node:path";

const env = (k) => {
  const v = process.env[k];
  if (!v) throw new Error(`${k} is not set (run this through cargo xtask browser-test)`);
  return v;
};
const BASE = env("PG_BASE");
const SHOTS = env("PG_SCREENSHOTS");
const KEYS = { auditor: env("PG_KEY_AUDITOR"), courier: env("PG_KEY_COURIER"), manager: env("PG_KEY_MANAGER") };
mkdirSync(SHOTS, { recursive: true });

// Unmasked personal data the console must never show: an 11-digit mobile
// number or an 18-character resident ID (masked ones contain '*').
const PLAINTEXT = [/(?<!\d)1[3-9]\d{9}(?!\d)/, /(?<!\d)\d{17}[\dX](?!\d)/];
async function assertNoPlaintext(page, where) {
  const text = await page.locator("body").innerText();
  for (const re of PLAINTEXT) assert.ok(!re.test(text), `${where}: page shows unmasked personal data (${re})`);
}

const browser = await chromium.launch({
  executablePath: process.env.CHROMIUM || "/usr/bin/chromium",
  args: ["--no-sandbox"],
});
let failures = 0;
async function step(name, fn) {
  const t = Date.now();
  try {
    await fn();
    console.log(`ok   ${name} (${Date.now() - t} ms)`);
  } catch (e) {
    failures++;
    console.log(`FAIL ${name}: ${e.message}`);
  }
}

async function signIn(context, key) {
  const page = await context.newPage();
  const errors = [];
  page.on("pageerror", (e) => errors.push(e.message));
  page.on("console", (m) => { if (m.type() === "error") errors.push(m.text()); });
  await page.goto(BASE + "/console/");
  await page.fill("#key", key);
  await page.click("#login button[type=submit]");
  page.jsErrors = errors;
  return page;
}

const desktop = await browser.newContext({ viewport: { width: 1280, height: 800 } });
const page = await signIn(desktop, KEYS.auditor);

await step("dashboard shows shipments, reveals and the log", async () => {
  // The demo prints its keys before seeding; on a loaded machine the
  // first shipments can land after the first page load.
  const deadline = Date.now() + 60_000;
  for (;;) {
    await page.waitForSelector("#card-shipments .big");
    const total = Number((await page.textContent("#card-shipments .big")).replace(/,/g, ""));
    if (total > 0) break;
    assert.ok(Date.now() < deadline, "no shipments on the dashboard within 60 s");
    await page.waitForTimeout(1000);
    await page.reload();
  }
  await page.waitForSelector("#card-reveals svg rect", { state: "attached" });
  // The demo's log is cosigned by an independent witness.
  assert.match(await page.textContent("#card-log"), /Signed by: \S+, witness\.demo\/w1 \(1 witness cosignature\)/);
  await assertNoPlaintext(page, "dashboard");
  await page.screenshot({ path: join(SHOTS, "dashboard.png"), fullPage: true });
});

await step("the insider's alert appears", async () => {
  const deadline = Date.now() + 150_000;
  await page.goto(BASE + "/console/#/alerts");
  for (;;) {
    await page.waitForSelector("#alerts, #no-alerts");
    if (await page.$("#alerts")) break;
    assert.ok(Date.now() < deadline, "no alert within 150 s");
    await page.waitForTimeout(3000);
    await page.reload();
  }
  assert.match(await page.textContent("#alerts tbody tr"), /courier/);
  await page.screenshot({ path: join(SHOTS, "alerts.png"), fullPage: true });
});

let evidenceIndex;
await step("an alert opens with reasons, the peer timeline and evidence", async () => {
  await page.click("#alerts tbody tr a");
  await page.waitForSelector("#timeline-chart rect", { state: "attached" });
  assert.ok((await page.$$("#alert-reasons li")).length > 0, "no reasons");
  assert.match(await page.textContent("#alert-actor"), /^emp-/, "the actor is not pseudonymous");
  const bars = await page.$$("#timeline-chart rect");
  assert.ok(bars.length >= 24, "timeline has too few hours");
  await page.waitForSelector("#evidence a");
  evidenceIndex = (await page.textContent("#evidence a")).replace("entry ", "");
  await assertNoPlaintext(page, "alert");
  await page.screenshot({ path: join(SHOTS, "alert.png"), fullPage: true });
});

await step("evidence leads to a log entry whose receipt verifies in the browser", async () => {
  await page.click("#evidence a");
  await page.waitForSelector("#entry-json");
  const entry = JSON.parse(await page.textContent("#entry-json"));
  assert.equal((await page.textContent("h1")).trim(), `Log entry ${evidenceIndex}`);
  assert.equal(entry.action, "reveal");
  await page.click("#verify");
  await page.waitForSelector("#verify-result.ok, #verify-result.error", { timeout: 15_000 });
  const result = await page.textContent("#verify-result");
  assert.match(result, /^Verified: entry \d+ is included/, result);
  await page.screenshot({ path: join(SHOTS, "entry-verified.png"), fullPage: true });
});

await step("a tampered receipt does not verify", async () => {
  // A page of its own (sessionStorage is per tab), signed in first.
  const tampered = await signIn(desktop, KEYS.auditor);
  await tampered.waitForSelector("#card-shipments");
  await tampered.route("**/v1/log/receipt/*", async (route) => {
    const resp = await route.fetch();
    const r = await resp.json();
    const bytes = Buffer.from(r.entry, "base64");
    bytes[bytes.length - 2] ^= 1;
    r.entry = bytes.toString("base64");
    await route.fulfill({ response: resp, json: r });
  });
  await tampered.goto(`${BASE}/console/#/entry/${evidenceIndex}`);
  await tampered.waitForSelector("#verify");
  await tampered.click("#verify");
  await tampered.waitForSelector("#verify-result.ok, #verify-result.error", { timeout: 15_000 });
  assert.match(await tampered.textContent("#verify-result"), /^Not verified/);
  await tampered.close();
});

await step("the alert can be acknowledged", async () => {
  await page.goBack();
  await page.waitForSelector("#ack");
  await page.fill("#note", "looking into it");
  await page.click("#ack");
  await page.waitForFunction(() => document.querySelector("#alert-status-value")?.textContent === "acknowledged");
});

await step("the access log searches by decision and actor", async () => {
  await page.goto(BASE + "/console/#/access-log?decision=deny");
  await page.waitForSelector("#log tbody tr");
  const rows = await page.$$eval("#log tbody tr", (trs) => trs.map((tr) => tr.textContent));
  assert.ok(rows.length > 0 && rows.every((r) => r.includes("deny")), "the deny filter let other rows through");
  const actor = await page.textContent("#log tbody tr td:nth-child(3)");
  await page.fill("#f-actor", actor);
  await page.click("#log-search button[type=submit]");
  await page.waitForFunction((a) => {
    const cells = [...document.querySelectorAll("#log tbody tr td:nth-child(3)")];
    return cells.length > 0 && cells.every((c) => c.textContent === a);
  }, actor);
  await assertNoPlaintext(page, "access log");
  await page.screenshot({ path: join(SHOTS, "access-log.png"), fullPage: true });
});

await step("shipments are masked", async () => {
  await page.goto(BASE + "/console/#/shipments?status=out_for_delivery");
  await page.waitForSelector("#shipments tbody tr");
  const phones = await page.$$eval("#shipments tbody tr td:nth-child(5)", (tds) => tds.map((t) => t.textContent));
  assert.ok(phones.every((p) => p.includes("*")), "a phone is not masked");
  await assertNoPlaintext(page, "shipments");
  await page.screenshot({ path: join(SHOTS, "shipments.png"), fullPage: true });
});

await step("policies show the set in force and its history", async () => {
  await page.goto(BASE + "/console/#/policies");
  await page.waitForSelector("#policy-version");
  assert.match(await page.textContent("#policy-version"), /^ps-/);
  await page.screenshot({ path: join(SHOTS, "policies.png"), fullPage: true });
});

await step("the dashboard fills in as the depot works", async () => {
  await page.goto(BASE + "/console/#/dashboard");
  await page.waitForSelector("#card-denials .bars");
  assert.match(await page.textContent("#card-denials"), /not_assigned/);
  assert.notEqual((await page.textContent("#card-alerts .big")).trim(), "0");
  await page.screenshot({ path: join(SHOTS, "dashboard-later.png"), fullPage: true });
});

await step("no script errors on the security team's pages", async () => {
  const errors = page.jsErrors.filter((e) => !/status of 40[13]/.test(e));
  assert.deepEqual(errors, []);
});

await step("pages fit a phone-sized screen", async () => {
  const phone = await browser.newContext({ viewport: { width: 390, height: 844 }, isMobile: true });
  const p = await signIn(phone, KEYS.auditor);
  for (const [hash, sel, shot] of [["#/dashboard", "#card-shipments .big", "phone-dashboard.png"], ["#/alerts?status=all", "#alerts", "phone-alerts.png"]]) {
    await p.goto(BASE + "/console/" + hash);
    await p.waitForSelector(sel);
    await p.screenshot({ path: join(SHOTS, shot), fullPage: true });
    const overflow = await p.evaluate(() => document.documentElement.scrollWidth - window.innerWidth);
    const wide = await p.evaluate(() => [...document.querySelectorAll("body *")]
      .filter((e) => e.getBoundingClientRect().right > window.innerWidth + 1)
      .slice(0, 3).map((e) => e.tagName + (e.id ? "#" + e.id : "") + "." + e.className));
    assert.ok(overflow <= 1, `${hash} is ${overflow}px wider than the screen (${wide.join(", ")})`);
  }
  await phone.close();
});

await step("a courier's key cannot open the console's pages", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx, KEYS.courier);
  await p.waitForSelector("#no-pages");
  assert.equal(await p.$("#nav-alerts"), null, "a courier sees the Alerts menu");
  for (const hash of ["#/alerts", "#/access-log", "#/policies", "#/dashboard"]) {
    await p.goto(BASE + "/console/" + hash);
    await p.waitForSelector("#page-error, #no-pages");
    if (hash !== "#/dashboard") assert.match(await p.textContent("#page-error"), /may not open this page/, hash);
  }
  await p.screenshot({ path: join(SHOTS, "courier-refused.png"), fullPage: true });
  await ctx.close();
});

await step("a station manager sees the dashboard but not alerts", async () => {
  const ctx = await browser.newContext({ viewport: { width: 1280, height: 800 } });
  const p = await signIn(ctx, KEYS.manager);
  await p.waitForSelector("#card-shipments .big");
  assert.equal(await p.$("#nav-alerts"), null);
  await p.goto(BASE + "/console/#/alerts");
  await p.waitForSelector("#page-error");
  await ctx.close();
});

await step("a wrong key is refused at sign-in", async () => {
  const ctx = await browser.newContext();
  const p = await signIn(ctx, "pgk_not_a_real_key");
  await p.waitForSelector("#login-error");
  await ctx.close();
});

await browser.close();
console.log(failures ? `${failures} browser check(s) failed` : "all browser checks passed");
process.exit(failures ? 1 : 0);
