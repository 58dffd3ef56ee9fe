// Reads a text/event-stream body block by block, as the tests see the wire: each block (the lines between two
// blank lines) and its `data:` lines joined. `onBlock` returning true stops the reading (the caller aborts the
// request); an abort through `signal` ends it quietly.
export async function readEventBlocks(
  body: ReadableStream<Uint8Array>,
  signal: AbortSignal,
  onBlock: (block: string, data: string) => boolean | void,
): Promise<void> {
  const decoder = new TextDecoder();
  let buffer = '';
  try {
    for await (const chunk of body as unknown as AsyncIterable<Uint8Array>) {
      buffer += decoder.decode(chunk, { stream: true });
      let end: number;
      while ((end = buffer.indexOf('\n\n')) !== -1) {
        const block = buffer.slice(0, end);
        buffer = buffer.slice(end + 2);
        const data = block
          .split('\n')
          .filter((line) => line.startsWith('data: '))
          .map((line) => line.slice(6))
          .join('\n');
        if (onBlock(block, data)) return;
      }
    }
  } catch (error) {
    if (!signal.aborted) throw error;
  }
}
