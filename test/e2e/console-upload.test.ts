/**
 * The console's whole path in a real browser with the built-in workers: a user drops a generated clip
 * and its consent video, watches the job reach JOB_SUCCESS live and plays the avatar's preview; a bad
 * file is refused with its reason; an upload cut off by a reload resumes into the same job.
 */
import { writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import { join } from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { type RunningPipeline, startPipeline } from "../../src/pipeline/run-pipeline.js";
import type { PipelineLogger } from "../../src/pipeline/stage.js";
import { createAdminToken } from "../../src/services/admin-tokens.service.js";
import { findVersionedJobById } from "../../src/store/job.repository.js";
import {
  accessible,
  type Browser,
  launchBrowser,
  pageWidth,
  RUN_BROWSER_TESTS,
  SCREENSHOTS,
  signInToProject,
} from "../support/browser.js";
import { type Clips, ensureClips } from "../support/clips.js";
import { startTestServer, type TestServer } from "../support/server.js";

const QUIET: PipelineLogger = { info() {}, warn() {}, error() {} };
const JOBS_PATH = /\/digital-human-training-manage\/user\/jobs$/;

describe.skipIf(!RUN_BROWSER_TESTS)(
  "uploading from the console in Chromium (skipped only off CI without /usr/bin/chromium)",
  () => {
    let s: TestServer;
    let pipeline: RunningPipeline;
    let browser: Browser;
    let clips: Clips;
    let project: TestServer["projects"][number];

    beforeAll(async () => {
      clips = await ensureClips();
      s = await startTestServer("sqlite", [0], {
        DOPPEL_VERIFY_POLICY: "dev",
        DOPPEL_WORKER_CONCURRENCY: "2",
      });
      // The workers run on real time (backoff, leases); the API's clock is frozen at start-up.
      pipeline = await startPipeline({ ...s.t.runtime, now: Date.now }, QUIET);
      project = s.projects[0] as TestServer["projects"][number];
      browser = await launchBrowser();
    }, 120_000);
    afterAll(async () => {
      await browser?.close();
      await pipeline?.stop();
      await s?.close();
    }, 120_000);

    it("takes a clip and its consent video picked on the page to JOB_SUCCESS live, then plays the avatar's preview", async () => {
      const page = await browser.context.newPage();
      const puts: string[] = [];
      page.on("request", (r) => {
        if (r.method() === "PUT") puts.push(new URL(r.url()).pathname);
      });
      await signInToProject(page, s.baseUrl, project);
      await page.getByRole("button", { name: "New job" }).click();
      await page.getByLabel("Name").fill("Anna from the console");
      await page.getByLabel("Training video").setInputFiles(clips.personA);
      await page.getByLabel("Consent").setInputFiles(clips.personAConsent);
      await accessible(page, "7-new-job");
      await page.getByRole("button", { name: "Upload and submit" }).click();

      // The job's page opens once it is submitted, and follows it to the end without a reload.
      await page.getByRole("heading", { name: "Anna from the console" }).waitFor({ timeout: 30_000 });
      await page.getByTestId("job-state").filter({ hasText: "JOB_SUCCESS" }).waitFor({ timeout: 150_000 });
      // Straight to the signed URLs: the consent and the video's one part, nothing through another path.
      expect(puts.sort()).toEqual([
        expect.stringMatching(/^\/uploads\/[0-9a-f-]+\/grant-file$/),
        expect.stringMatching(/^\/uploads\/[0-9a-f-]+\/training-video\/1$/),
      ]);

      const preview = page.getByLabel("Preview of Anna from the console");
      await preview.waitFor();
      const played = await preview.evaluate(async (element) => {
        // The DOM's HTMLVideoElement, as far as used (the tests compile without the DOM's types).
        const video = element as unknown as {
          muted: boolean;
          play(): Promise<void>;
          currentTime: number;
          videoWidth: number;
          error: { message: string } | null;
        };
        video.muted = true;
        await video.play();
        await new Promise((resolve) => setTimeout(resolve, 1500));
        return { time: video.currentTime, width: video.videoWidth, error: video.error?.message ?? null };
      });
      expect(played.error).toBeNull();
      expect(played.width).toBeGreaterThan(0);
      expect(played.time).toBeGreaterThan(0);
      // The package and the uploaded files can be downloaded from the same page.
      const whole = page.getByRole("link", { name: /Whole package/ });
      const response = await page.request.get((await whole.getAttribute("href")) as string);
      expect(response.status()).toBe(200);
      expect(response.headers()["content-type"]).toBe("application/x-tar");
      await page.getByRole("link", { name: "Training video" }).waitFor();
      // The checks' report in pictures: the sampled frames with their face framed, and the consent
      // video's face beside the training video's with the distance between them.
      await page
        .getByRole("img", { name: /^Frame at .*: one face$/ })
        .first()
        .waitFor();
      expect(await page.locator("svg.frame").count()).toBeGreaterThanOrEqual(4);
      expect(await page.locator("svg.frame rect.face-box").count()).toBeGreaterThanOrEqual(4);
      await page.getByRole("img", { name: "The face in the consent video" }).waitFor();
      await page.getByRole("img", { name: "The face in the training video" }).waitFor();
      await expect(page.locator(".faces figcaption").textContent()).resolves.toMatch(/face distance 0\.\d\d/);
      const frameUrl = await page.locator("svg.frame image").first().getAttribute("href");
      expect((await page.request.get(frameUrl as string)).headers()["content-type"]).toBe("image/jpeg");
      await accessible(page, "8-job-success");
      await page.setViewportSize({ width: 390, height: 844 });
      await page.screenshot({ path: join(SCREENSHOTS, "8b-job-success-phone.png"), fullPage: true });
      // It fits: nothing makes the page itself scroll sideways (wide tables scroll inside their box).
      expect(await page.evaluate(pageWidth)).toBeLessThanOrEqual(390);
      await page.setViewportSize({ width: 1280, height: 720 });

      // The avatar is listed on its own page too, with the same preview.
      await page.getByRole("button", { name: "Avatars" }).click();
      await page.getByRole("button", { name: "Anna from the console" }).click();
      await page.getByLabel("Preview of Anna from the console").waitFor();
      await accessible(page, "9-avatars");
      await page.close();
    }, 240_000);

    it("shows why a file dropped on the page that is no video is refused", async () => {
      const page = await browser.context.newPage();
      await signInToProject(page, s.baseUrl, project);
      await page.getByRole("button", { name: "New job" }).click();
      // Dropped, as from a file manager: a text file whose name (and so its type) says MP4.
      const dropped = await page.evaluateHandle(() => {
        // The DOM's DataTransfer, as far as used (the tests compile without the DOM's types).
        const page = globalThis as unknown as {
          DataTransfer: new () => { items: { add(file: File): void } };
        };
        const transfer = new page.DataTransfer();
        const notes = "These are my notes, not a video.\n".repeat(20);
        transfer.items.add(new File([notes], "notes-renamed.mp4", { type: "video/mp4" }));
        return transfer;
      });
      await page.locator("label.drop").first().dispatchEvent("drop", { dataTransfer: dropped });
      await page.getByText("notes-renamed.mp4 (660 B)").waitFor();
      await page.getByLabel("Consent").setInputFiles(clips.personAConsent);
      await page.getByRole("button", { name: "Upload and submit" }).click();
      const alert = page.getByRole("alert");
      await alert.waitFor();
      await expect(alert.textContent()).resolves.toMatch(
        /The training video notes-renamed\.mp4 was refused: .*(text|MP4|video)/i,
      );
      await accessible(page, "10-bad-upload");
      // The form stays, and the next try goes to the same job.
      await page.getByRole("button", { name: "Resume upload and submit" }).waitFor();
      await page.getByRole("button", { name: "Start a new job instead" }).click();
      await page.close();
    }, 60_000);

    it("shows an operator the frames and the consent letter of a job in review, and approves it by keyboard", async () => {
      const letter = join(tmpdir(), "consent-letter.pdf");
      await writeFile(letter, "%PDF-1.4\n% I agree to be trained into an avatar. Signed, Anna\n");
      const page = await browser.context.newPage();
      await signInToProject(page, s.baseUrl, project);
      await page.getByRole("button", { name: "New job" }).click();
      await page.getByLabel("Name").fill("Anna with a letter");
      await page.getByLabel("Training video").setInputFiles(clips.personA);
      await page.getByLabel("Consent").setInputFiles(letter);
      await page.getByRole("button", { name: "Upload and submit" }).click();
      await page
        .getByTestId("job-state")
        .filter({ hasText: "MANUAL_VERIFYING" })
        .waitFor({ timeout: 90_000 });
      await page.getByRole("button", { name: "Sign out" }).click();

      const operator = (await createAdminToken(s.t.runtime, "Console reviewer")).token;
      await page.getByLabel("An operator (review, workers)").check();
      await page.getByLabel("Operator token").fill(operator);
      await page.getByRole("button", { name: "Sign in" }).click();
      await page.getByRole("heading", { name: /Anna with a letter/ }).waitFor();
      await page
        .getByRole("img", { name: /^Frame at .*: one face$/ })
        .first()
        .waitFor();
      const read = page.getByRole("link", { name: "Read the consent letter" });
      const pdf = await page.request.get((await read.getAttribute("href")) as string);
      expect(pdf.headers()["content-type"]).toBe("application/pdf");
      await accessible(page, "12-review-with-report");
      await page.keyboard.press("a");
      await page.getByText("Approved Anna with a letter").waitFor();
      await page.close();
    }, 150_000);

    it("after a reload sends only what the server lacks, into the same job", async () => {
      const page = await browser.context.newPage();
      const created: string[] = [];
      const puts: string[] = [];
      page.on("request", (r) => {
        if (r.method() === "POST" && JOBS_PATH.test(new URL(r.url()).pathname)) created.push(r.url());
        if (r.method() === "PUT") puts.push(new URL(r.url()).pathname);
      });
      // The video and consent arrive; the tab goes away before the job is confirmed.
      await page.route("**/command", async (route) => {
        const command = (route.request().postDataJSON() as { command: string }).command;
        if (command === "CONFIRM_MULTIPART_UPLOADED") await route.abort("connectionreset");
        else await route.continue();
      });
      await signInToProject(page, s.baseUrl, project);
      await page.getByRole("button", { name: "New job" }).click();
      await page.getByLabel("Name").fill("Reloaded");
      await page.getByLabel("Training video").setInputFiles(clips.personA);
      await page.getByLabel("Consent").setInputFiles(clips.personAConsent);
      await page.getByRole("button", { name: "Upload and submit" }).click();
      await page.getByRole("alert").waitFor();
      expect(puts).toHaveLength(2);
      await page.unroute("**/command");

      await page.reload();
      await page.getByRole("button", { name: "New job" }).click();
      await page.getByText("did not finish").waitFor();
      await accessible(page, "11-resume");
      await page.getByLabel("Training video").setInputFiles(clips.personA);
      await page.getByLabel("Consent").setInputFiles(clips.personAConsent);
      await page.getByRole("button", { name: "Resume upload and submit" }).click();
      await page.getByRole("heading", { name: "Reloaded" }).waitFor({ timeout: 30_000 });

      // One job was made, and nothing was sent twice: the server had both files already.
      expect(created).toHaveLength(1);
      expect(puts).toHaveLength(2);
      const jobId = (await page.locator(".id").first().textContent()) as string;
      const job = await findVersionedJobById(s.t.runtime.database.db, jobId);
      expect(job?.job.name).toBe("Reloaded");
      expect(job?.job.state).not.toBe("WAIT_FILE_UPLOAD");
      await page.close();
    }, 120_000);
  },
);
