import type { DoppelClient, JobDetail } from "./api-client.js";
import { historyLines } from "./job-output.js";

/** States a waiting `jobs show --wait` stops at: the job needs nobody but its owner any more. */
const SETTLED =
  /FAILED$|^(JOB_SUCCESS|WAIT_USER_CONFIRM|JOB_FINISH|JOB_REJECT|JOB_PENDING|WAIT_FILE_UPLOAD)$/;

/** Polls a job, printing each new history entry to stderr, until its state settles. */
export async function followJob(client: DoppelClient, jobId: string): Promise<JobDetail> {
  let printed = 0;
  for (;;) {
    const job = await client.showJob(jobId);
    for (const log of job.operation_logs.slice(printed)) {
      for (const line of historyLines(log)) process.stderr.write(`${line}\n`);
    }
    printed = job.operation_logs.length;
    if (SETTLED.test(job.state)) return job;
    await new Promise((resolve) => setTimeout(resolve, 2000));
  }
}
