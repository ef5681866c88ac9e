// A button that copies a text (a command, a new key) to the clipboard.
import { useState } from 'preact/hooks';
import { CopyIcon } from './Icons.tsx';

/** Copies a text to the clipboard and says so. */
export function CopyButton({ text, label = 'Copy' }: { text: string; label?: string }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  const copy = async (): Promise<void> => {
    try {
      await navigator.clipboard.writeText(text);
      setCopied('copied');
    } catch {
      setCopied('failed');
    }
    window.setTimeout(() => setCopied('idle'), 2000);
  };
  return (
    <button type="button" class="button button-small" onClick={() => void copy()}>
      <CopyIcon />
      <span aria-live="polite">{copied === 'copied' ? 'Copied' : copied === 'failed' ? 'Select and copy' : label}</span>
    </button>
  );
}
