// The last step of checking a stored row, the same under every format: compare
// the recomputed checksum with the stored one, and combine that with what the
// personal-field check found.

export interface ContentProblem {
  /** 'checksum': only the checksum fails, so the row may verify under another chain key. */
  part: 'checksum' | 'personal' | 'both' | 'unreadable';
  expected: string | null;
  found: string | null;
  message: string;
}

/**
 * null when `recomputed` is the stored checksum and the personal check found
 * nothing. `source` names what the checksum was recomputed from ("content",
 * "values") in the message.
 */
export function checksumVerdict(
  stored: string | null,
  recomputed: string,
  personal: Omit<ContentProblem, 'part'> | null,
  source: string,
): ContentProblem | null {
  if (recomputed !== stored) {
    return {
      part: personal ? 'both' : 'checksum',
      expected: stored,
      found: recomputed,
      message: `checksum does not recompute from the row's ${source} and stored prev_checksum: the content changed since the row was sealed${personal ? `; also ${personal.message}` : ''}`,
    };
  }
  return personal ? { part: 'personal', ...personal } : null;
}
