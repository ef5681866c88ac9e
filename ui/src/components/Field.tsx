// A labelled form control with its hint and the server's complaint about it.
import type { ComponentChildren } from 'preact';

interface FieldProps {
  label: string;
  /** The control's id: the label points at it, the error describes it. */
  htmlFor: string;
  hint?: string;
  error?: string | undefined;
  children: ComponentChildren;
  class?: string;
}

export function Field({ label, htmlFor, hint, error, children, class: className }: FieldProps) {
  return (
    <div class={`field${error === undefined ? '' : ' field-invalid'}${className === undefined ? '' : ` ${className}`}`}>
      <label class="field-label" for={htmlFor}>
        {label}
      </label>
      {children}
      {hint === undefined ? null : (
        <span class="field-hint" id={`${htmlFor}-hint`}>
          {hint}
        </span>
      )}
      {error === undefined ? null : (
        <span class="field-error" id={`${htmlFor}-error`} role="alert">
          {error}
        </span>
      )}
    </div>
  );
}

/** The ids that describe a control: its hint and its error, when it has them. */
export function describedBy(id: string, hasHint: boolean, error: string | undefined): string | undefined {
  const ids = [hasHint ? `${id}-hint` : null, error === undefined ? null : `${id}-error`].filter(Boolean);
  return ids.length === 0 ? undefined : ids.join(' ');
}
