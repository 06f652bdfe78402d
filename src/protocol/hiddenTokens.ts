/**
 * A completion's text leaves its special tokens out (decoded with skip_special_tokens, as TRL and verl score it):
 * a `<pad>` sampled between two digits reads "22" where the tokens say "2<pad>2". The rollout cards show the
 * completion as its tokens have it — the special tokens back where they were — so such a sample is not mistaken
 * for a clean one. Pure: the host attaches the segments to each rollout summary, the webview draws them.
 */
import type { FinishReason } from './records';

/** A piece of a completion as shown: text the completion has, or a special token its text leaves out. */
export interface ShownSegment {
  text: string;
  special: boolean;
}

/** Tokens that decode to nothing in the completion's text: `<|endoftext|>`, `<pad>`, `</s>`, `[PAD]`. */
const SPECIAL_TOKEN = /^(<\|[^|<>]*\|>|<\/?[A-Za-z_][\w.-]*>|\[[A-Z_]+\])$/;

/**
 * The completion with its special tokens back in, as segments, or undefined when its text already shows every token
 * (no special token inside it), or when the tokens do not line up with the text (another trainer's pieces).
 * `pieces`: each token's text (TokenColumns.text). A completion that stopped on a stop token leaves that last token
 * out of its text: it is left out here too where that lines up (the card's foot says how the completion ended).
 */
export function completionWithSpecialTokens(completion: string, pieces: readonly string[], finish: FinishReason): ShownSegment[] | undefined {
  // Without the stop token first: an EOS (`</s>`) at the end is how it ended, not something hidden in its text.
  const withoutStop = finish === 'stop' && pieces.length > 0 ? align(completion, pieces.slice(0, -1)) : undefined;
  const segments = withoutStop ?? align(completion, pieces);
  return segments?.some((s) => s.special) ? segments : undefined;
}

/** The pieces as segments of the completion, or undefined when they do not spell it (special tokens aside). */
function align(completion: string, body: readonly string[]): ShownSegment[] | undefined {
  const segments: ShownSegment[] = [];
  let at = 0;
  for (const piece of body) {
    if (piece.length > 0 && completion.startsWith(piece, at)) {
      at += piece.length;
      const last = segments.at(-1);
      if (last && !last.special) last.text += piece;
      else segments.push({ text: piece, special: false });
    } else if (SPECIAL_TOKEN.test(piece)) {
      segments.push({ text: piece, special: true });
    } else if (piece.length > 0) {
      return undefined;
    }
  }
  return at === completion.length ? segments : undefined;
}
