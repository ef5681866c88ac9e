// Administration (admin users): the tenant's API keys, its data retention and quota, and
// its audit log.
import { ApiKeys } from './ApiKeys.tsx';
import { AuditLog } from './AuditLog.tsx';
import { Retention } from './Retention.tsx';

export function AdminPage({ tenantId }: { tenantId: string }) {
  return (
    <section class="page" aria-labelledby="admin-title">
      <header class="page-header">
        <h1 id="admin-title">Administration</h1>
      </header>
      <ApiKeys />
      <Retention tenantId={tenantId} />
      <AuditLog />
    </section>
  );
}
