/** The most a WebSocket close reason may hold, in UTF-8 bytes (RFC 6455: 125 minus the code). */
export const MAX_CLOSE_REASON_BYTES = 123;

function utf8Length(codePoint: number): number {
  if (codePoint < 0x80) return 1;
  if (codePoint < 0x800) return 2;
  // A lone surrogate is sent as U+FFFD, three bytes, like any other BMP character.
  if (codePoint < 0x10000) return 3;
  return 4;
}

/**
 * `text` cut to at most `maxBytes` UTF-8 bytes on a character (code point) boundary, so the
 * result never ends in half a character. A WebSocket `close` throws on a longer reason.
 */
export function truncateUtf8(text: string, maxBytes: number = MAX_CLOSE_REASON_BYTES): string {
  // Every UTF-16 unit is at most three UTF-8 bytes.
  if (text.length * 3 <= maxBytes) return text;
  let bytes = 0;
  let end = 0;
  for (const char of text) {
    bytes += utf8Length(char.codePointAt(0)!);
    if (bytes > maxBytes) break;
    end += char.length;
  }
  return text.slice(0, end);
}
