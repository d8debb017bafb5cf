/** Reads one line from the terminal without echoing it. */
export function askHidden(prompt: string): Promise<string> {
  const input = process.stdin;
  // echo off before the prompt shows, so that nothing typed after it is echoed
  input.setRawMode(true);
  process.stderr.write(prompt);
  return new Promise((resolvePassword, reject) => {
    let typed = '';
    input.resume();
    input.setEncoding('utf8');
    const finish = (err?: Error): void => {
      input.setRawMode(false);
      input.pause();
      input.off('data', onData);
      process.stderr.write('\n');
      if (err === undefined) resolvePassword(typed);
      else reject(err);
    };
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish();
        if (ch === '\u0003' || ch === '\u0004') return finish(new Error('cancelled'));
        if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
        else typed += ch;
      }
    };
    input.on('data', onData);
  });
}
