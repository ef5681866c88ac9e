// A parser for `text/event-stream` bodies as the HTML standard defines them, fed with text
// chunks as they arrive (fetch + ReadableStream: EventSource cannot send credential headers).

export interface SseMessage {
  /** `event:` field; `message` when the frame names none. */
  type: string;
  data: string;
  /** The last `id:` seen on the stream so far (sent back as `Last-Event-ID` on reconnect). */
  lastEventId: string;
}

export class SseParser {
  private pending = '';
  private atStreamStart = true;
  private dataLines: string[] = [];
  private eventType = '';
  private lastEventId = '';
  /** The reconnection delay the server asked for with `retry:`, if any. */
  retryMs: number | null = null;

  constructor(private readonly onMessage: (message: SseMessage) => void) {}

  /** Feeds the next decoded chunk of the body. */
  push(chunk: string): void {
    let text = this.pending + chunk;
    if (this.atStreamStart && text.length > 0) {
      if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
      this.atStreamStart = false;
    }
    let lineStart = 0;
    for (let index = 0; index < text.length; index++) {
      const char = text[index];
      if (char !== '\n' && char !== '\r') continue;
      // A CR at the very end may be the first half of CRLF: wait for the next chunk.
      if (char === '\r' && index === text.length - 1) break;
      this.processLine(text.slice(lineStart, index));
      if (char === '\r' && text[index + 1] === '\n') index++;
      lineStart = index + 1;
    }
    this.pending = text.slice(lineStart);
  }

  private processLine(line: string): void {
    if (line === '') {
      this.dispatch();
      return;
    }
    if (line.startsWith(':')) return;
    const colon = line.indexOf(':');
    const field = colon === -1 ? line : line.slice(0, colon);
    let value = colon === -1 ? '' : line.slice(colon + 1);
    if (value.startsWith(' ')) value = value.slice(1);
    switch (field) {
      case 'event':
        this.eventType = value;
        break;
      case 'data':
        this.dataLines.push(value);
        break;
      case 'id':
        if (!value.includes('\0')) this.lastEventId = value;
        break;
      case 'retry':
        if (/^\d+$/.test(value)) this.retryMs = Number(value);
        break;
      default:
        break;
    }
  }

  private dispatch(): void {
    const type = this.eventType || 'message';
    const hasData = this.dataLines.length > 0;
    const data = this.dataLines.join('\n');
    this.dataLines = [];
    this.eventType = '';
    if (!hasData) return;
    this.onMessage({ type, data, lastEventId: this.lastEventId });
  }
}
