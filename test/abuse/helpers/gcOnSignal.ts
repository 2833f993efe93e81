// Preloaded (`--import`) into the sidecar process by the abuse tests and the soak, with
// --expose-gc: SIGUSR2 runs a full garbage collection and prints a marker line, so that
// "what the attack held is freed" can be read from /metrics as live heap, not as garbage
// that V8 has not collected yet. It changes nothing else in the process.
process.on('SIGUSR2', () => {
  const gc = (globalThis as { gc?: () => void }).gc;
  if (gc) {
    gc();
    gc(); // a second pass frees what the first one's finalizers released
  }
  process.stderr.write(`[abuse-gc] ${gc ? 'done' : 'unavailable'}\n`);
});
