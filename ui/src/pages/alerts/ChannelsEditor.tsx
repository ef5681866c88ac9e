// A rule's webhooks: a URL and a body format each; problems show beside their channel.
import { ChoiceSelect } from '../../components/ChoiceSelect.tsx';
import { describedBy } from '../../components/Field.tsx';
import { CHANNEL_FORMATS, type RuleForm } from './rule-form.ts';

const MAX_CHANNELS = 10;

interface ChannelsEditorProps {
  channels: RuleForm['channels'];
  errors: ReadonlyMap<string, string>;
  onChange(channels: RuleForm['channels']): void;
}

export function ChannelsEditor({ channels, errors, onChange }: ChannelsEditorProps) {
  const set = (index: number, changes: Partial<RuleForm['channels'][number]>): void =>
    onChange(channels.map((channel, at) => (at === index ? { ...channel, ...changes } : channel)));
  const groupError = errors.get('channels');
  return (
    <div
      class={`repeat-group${groupError === undefined ? '' : ' field-invalid'}`}
      role="group"
      aria-labelledby="rule-channels-label"
    >
      <span class="field-label" id="rule-channels-label">
        Webhooks
      </span>
      <span class="field-hint">Each gets a POST when an alert fires and when it resolves</span>
      {channels.map((channel, index) => {
        const urlId = `rule-channel-${index}-url`;
        const formatId = `rule-channel-${index}-format`;
        const urlError = errors.get(`channels[${index}].url`);
        const formatError = errors.get(`channels[${index}].format`);
        return (
          <div class="repeat-row channel-row" key={index}>
            <div class={`field channel-url${urlError === undefined ? '' : ' field-invalid'}`}>
              <label class="field-label" for={urlId}>
                Webhook {index + 1} URL
              </label>
              <input
                id={urlId}
                type="url"
                placeholder="https://hooks.example.com/alerts"
                value={channel.url}
                aria-invalid={urlError === undefined ? undefined : 'true'}
                aria-describedby={describedBy(urlId, false, urlError)}
                onInput={(event) => set(index, { url: event.currentTarget.value })}
              />
              {urlError === undefined ? null : (
                <span class="field-error" id={`${urlId}-error`} role="alert">
                  {urlError}
                </span>
              )}
            </div>
            <div class={`field${formatError === undefined ? '' : ' field-invalid'}`}>
              <label class="field-label" for={formatId}>
                Format
              </label>
              <ChoiceSelect
                id={formatId}
                choices={CHANNEL_FORMATS}
                value={channel.format}
                aria-invalid={formatError === undefined ? undefined : 'true'}
                aria-describedby={describedBy(formatId, false, formatError)}
                onChoose={(format) => set(index, { format: format ?? channel.format })}
              />
              {formatError === undefined ? null : (
                <span class="field-error" id={`${formatId}-error`} role="alert">
                  {formatError}
                </span>
              )}
            </div>
            {channels.length > 1 ? (
              <button
                type="button"
                class="button button-quiet"
                onClick={() => onChange(channels.filter((_, at) => at !== index))}
              >
                Remove<span class="visually-hidden"> webhook {index + 1}</span>
              </button>
            ) : null}
          </div>
        );
      })}
      {channels.length < MAX_CHANNELS ? (
        <div>
          <button
            type="button"
            class="button button-small"
            onClick={() => onChange([...channels, { url: '', format: 'json' }])}
          >
            Add webhook
          </button>
        </div>
      ) : null}
      {groupError === undefined ? null : (
        <span class="field-error" role="alert">
          {groupError}
        </span>
      )}
    </div>
  );
}
