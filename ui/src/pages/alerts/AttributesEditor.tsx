// A rule's attribute filter: key = value pairs the samples must all carry.
import type { RuleForm } from './rule-form.ts';

interface AttributesEditorProps {
  attributes: RuleForm['attributes'];
  error: string | undefined;
  onChange(attributes: RuleForm['attributes']): void;
}

export function AttributesEditor({ attributes, error, onChange }: AttributesEditorProps) {
  const set = (index: number, changes: Partial<RuleForm['attributes'][number]>): void =>
    onChange(attributes.map((attribute, at) => (at === index ? { ...attribute, ...changes } : attribute)));
  return (
    <div
      class={`repeat-group${error === undefined ? '' : ' field-invalid'}`}
      role="group"
      aria-labelledby="rule-attributes-label"
    >
      <span class="field-label" id="rule-attributes-label">
        Attributes (optional)
      </span>
      <span class="field-hint">Only samples whose payload.attributes carry all of these</span>
      {attributes.map((attribute, index) => (
        <div class="repeat-row" key={index}>
          <label class="field">
            <span class="field-label visually-hidden">Attribute {index + 1} name</span>
            <input
              type="text"
              placeholder="name"
              value={attribute.key}
              onInput={(event) => set(index, { key: event.currentTarget.value })}
            />
          </label>
          <span aria-hidden="true">=</span>
          <label class="field">
            <span class="field-label visually-hidden">Attribute {index + 1} value</span>
            <input
              type="text"
              placeholder="value"
              value={attribute.value}
              onInput={(event) => set(index, { value: event.currentTarget.value })}
            />
          </label>
          <button
            type="button"
            class="button button-quiet"
            onClick={() => onChange(attributes.filter((_, at) => at !== index))}
          >
            Remove<span class="visually-hidden"> attribute {index + 1}</span>
          </button>
        </div>
      ))}
      <div>
        <button
          type="button"
          class="button button-small"
          onClick={() => onChange([...attributes, { key: '', value: '' }])}
        >
          Add attribute
        </button>
      </div>
      {error === undefined ? null : (
        <span class="field-error" role="alert">
          {error}
        </span>
      )}
    </div>
  );
}
