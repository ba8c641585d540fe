// Pacing for the host's long polls on the guest agent (ReadStdout, WaitProcess,
// GetOOMEvent, ...). Each asks the agent to wait up to wait_ms for news; a
// hostile or broken guest that answers "nothing" at once would otherwise make
// the polling loop spin on the daemon's only thread.

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** An empty answer that came back sooner than this did not wait as asked. */
const EARLY_ANSWER_MS = 50;
/** How long to wait after such an answer before asking again. */
const BACKOFF_MS = 100;

/** Call after an answer with nothing in it: waits a little if it came back at once (`askedAt` = Date.now() before the call). */
export async function paceEmptyAnswer(askedAt: number): Promise<void> {
  if (Date.now() - askedAt < EARLY_ANSWER_MS) await sleep(BACKOFF_MS);
}
