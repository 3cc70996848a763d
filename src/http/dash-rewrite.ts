// MPEG-DASH manifest rewriting: segment-addressing attributes get the session parameter so segment
// requests find their stream again — SegmentTemplate@media/@initialization/@index/@bitstreamSwitching,
// SegmentURL@media/@index, Initialization@sourceURL, RepresentationIndex@sourceURL. BaseURL is left
// alone (a query on a base URL is dropped when relative references resolve against it).
import { withSessionParam } from './session-param.js';

const ADDRESSING_ELEMENT = /<((?:[A-Za-z_][\w.-]*:)?(?:SegmentTemplate|SegmentURL|Initialization|RepresentationIndex))\b[^>]*>/g;
const ADDRESSING_ATTRIBUTE = /(\s(?:media|initialization|index|bitstreamSwitching|sourceURL)\s*=\s*)(["'])([^"']*)\2/g;

export function rewriteDashManifest(xml: string, sessionId: string): string {
  return xml.replace(ADDRESSING_ELEMENT, (tag) =>
    tag.replace(ADDRESSING_ATTRIBUTE, (_m, pre: string, quote: string, value: string) => {
      // bitstreamSwitching may be a boolean rather than a URL template.
      if (value === 'true' || value === 'false') return `${pre}${quote}${value}${quote}`;
      return `${pre}${quote}${withSessionParam(value, sessionId, '&amp;')}${quote}`;
    }),
  );
}

export function isDashManifest(text: string): boolean {
  return /<MPD[\s>]/.test(text.slice(0, 4096));
}
