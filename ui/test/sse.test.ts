// The SSE parser of the live tail, against the frames the service sends and split chunks.
import assert from 'node:assert/strict';
import { test } from 'node:test';
import { SseParser, type SseMessage } from '../src/lib/sse.ts';

function parse(chunks: readonly string[]): { messages: SseMessage[]; parser: SseParser } {
  const messages: SseMessage[] = [];
  const parser = new SseParser((message) => messages.push(message));
  for (const chunk of chunks) parser.push(chunk);
  return { messages, parser };
}

test('frames of the live stream become messages with their type, data and last id', () => {
  const { messages } = parse([
    'event: ready\ndata: {"resumed": false}\n\n',
    ': keep-alive\n\n',
    'id: 8812-40211-0\nevent: event\ndata: {"eventId":"evt_1"}\n\n',
    'event: dropped\ndata: {"dropped": 37}\n\n',
  ]);
  assert.deepEqual(messages, [
    { type: 'ready', data: '{"resumed": false}', lastEventId: '' },
    { type: 'event', data: '{"eventId":"evt_1"}', lastEventId: '8812-40211-0' },
    { type: 'dropped', data: '{"dropped": 37}', lastEventId: '8812-40211-0' },
  ]);
});

test('a frame split anywhere across chunks, even inside CRLF, parses the same', () => {
  const stream = 'id: 7\r\nevent: event\r\ndata: {"a":1}\r\n\r\ndata: plain\r\n\r\n';
  const whole = parse([stream]).messages;
  for (let cut = 1; cut < stream.length; cut++) {
    assert.deepEqual(parse([stream.slice(0, cut), stream.slice(cut)]).messages, whole, `cut at ${cut}`);
  }
  assert.deepEqual(whole, [
    { type: 'event', data: '{"a":1}', lastEventId: '7' },
    { type: 'message', data: 'plain', lastEventId: '7' },
  ]);
});

test('multi-line data joins with newlines; a frame without data dispatches nothing', () => {
  const { messages } = parse(['data: one\ndata:two\ndata\n\n', 'event: lonely\n\n', 'data: end\n\n']);
  assert.deepEqual(
    messages.map((message) => [message.type, message.data]),
    [
      ['message', 'one\ntwo\n'],
      ['message', 'end'],
    ],
  );
});

test('a byte order mark at the start, lone CRs and retry fields', () => {
  const { messages, parser } = parse(['\uFEFFretry: 2500\rdata: x\r\r', 'retry: soon\n']);
  assert.deepEqual(messages, [{ type: 'message', data: 'x', lastEventId: '' }]);
  assert.equal(parser.retryMs, 2500);
});

test('an incomplete last frame waits for the rest', () => {
  const { messages } = parse(['data: partial']);
  assert.deepEqual(messages, []);
});
