// The explorer's filters. Choices apply at once; typed values apply with Enter or "Apply".
import { useState } from 'preact/hooks';
import type { Catalog } from '../../api/types.ts';
import { ChoiceSelect } from '../../components/ChoiceSelect.tsx';
import { RangePicker } from '../../components/RangePicker.tsx';
import { RANGE_PRESETS } from '../../lib/time.ts';
import { EVENT_TYPES, GROUPINGS, type ExplorerView } from './explorer-state.ts';

interface FiltersProps {
  view: ExplorerView;
  catalog: Catalog | undefined;
  catalogError: unknown;
  onChange(view: ExplorerView): void;
}

export function Filters({ view, catalog, catalogError, onChange }: FiltersProps) {
  const [serviceName, setServiceName] = useState(view.serviceName ?? '');
  const [userId, setUserId] = useState(view.userId ?? '');
  const typed = (): ExplorerView => ({
    ...view,
    serviceName: serviceName.trim() === '' ? null : serviceName,
    userId: userId.trim() === '' ? null : userId,
  });

  return (
    <form
      class="filters"
      aria-label="Filters"
      onSubmit={(event) => {
        event.preventDefault();
        onChange(typed());
      }}
    >
      <RangePicker
        id="explorer-range"
        range={view.range}
        presets={RANGE_PRESETS}
        onChange={(range) => onChange({ ...typed(), range })}
      />
      <div class="field">
        <label class="field-label" for="explorer-type">
          Type
        </label>
        <ChoiceSelect
          id="explorer-type"
          choices={EVENT_TYPES}
          value={view.eventType}
          anyLabel="Any type"
          onChoose={(eventType) => onChange({ ...typed(), eventType })}
        />
      </div>
      <div class="field">
        <label class="field-label" for="explorer-service">
          Service
        </label>
        <input
          id="explorer-service"
          type="search"
          list="explorer-services"
          placeholder="Any service"
          value={serviceName}
          onInput={(event) => setServiceName(event.currentTarget.value)}
        />
      </div>
      <datalist id="explorer-services">
        {(catalog?.services ?? []).map((service) => (
          <option key={service.name} value={service.name} />
        ))}
      </datalist>
      <div class="field">
        <label class="field-label" for="explorer-user">
          User
        </label>
        <input
          id="explorer-user"
          type="search"
          placeholder="Any user"
          value={userId}
          onInput={(event) => setUserId(event.currentTarget.value)}
        />
      </div>
      <div class="field">
        <label class="field-label" for="explorer-group">
          Group by
        </label>
        <ChoiceSelect
          id="explorer-group"
          choices={GROUPINGS}
          value={view.groupBy}
          anyLabel="No grouping"
          onChoose={(groupBy) => onChange({ ...typed(), groupBy })}
        />
      </div>
      <div class="filters-submit">
        <button type="submit" class="button button-primary">
          Apply
        </button>
      </div>
      {catalogError === null ? null : (
        <p class="field-hint filters-note">Service suggestions are unavailable right now.</p>
      )}
    </form>
  );
}
