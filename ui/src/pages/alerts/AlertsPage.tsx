// Alerting: rules, what fires now, the history of transitions, and failed notifications.
import { hasPermission } from '../../api/auth.ts';
import type { Session } from '../../api/types.ts';
import { Tabs } from '../../components/Tabs.tsx';
import { hrefFor, useLocation } from '../../lib/router.ts';
import { useResource } from '../../lib/use-resource.ts';
import { ActiveAlerts } from './ActiveAlerts.tsx';
import { AlertHistory } from './AlertHistory.tsx';
import { DeadLetters } from './DeadLetters.tsx';
import { RulesPanel } from './RulesPanel.tsx';
import { listRules } from './rules-api.ts';

const SECTIONS = [
  { id: 'rules', label: 'Rules' },
  { id: 'active', label: 'Active' },
  { id: 'history', label: 'History' },
  { id: 'dead-letters', label: 'Dead letters' },
] as const;

export function AlertsPage({ session }: { session: Session }) {
  const { search } = useLocation();
  const section = SECTIONS.find((candidate) => candidate.id === search.get('tab'))?.id ?? 'rules';
  const canEdit = hasPermission(session, 'write_rules');
  return (
    <section class="page" aria-labelledby="alerts-title">
      <header class="page-header">
        <h1 id="alerts-title">Alerts</h1>
      </header>
      <Tabs
        label="Alert sections"
        current={section}
        tabs={SECTIONS.map((candidate) => ({
          id: candidate.id,
          label: candidate.label,
          href: hrefFor('alerts', candidate.id === 'rules' ? undefined : new URLSearchParams({ tab: candidate.id })),
        }))}
      />
      {section === 'rules' ? <RulesPanel canEdit={canEdit} /> : null}
      {section === 'active' ? <ActiveAlerts /> : null}
      {section === 'history' ? <HistorySection /> : null}
      {section === 'dead-letters' ? <DeadLetters canRedeliver={canEdit} /> : null}
    </section>
  );
}

function HistorySection() {
  const rules = useResource((signal) => listRules(signal), []);
  return <AlertHistory rules={rules.data ?? []} />;
}
