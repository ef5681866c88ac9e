// Administration (admin users): the tenant's API keys and its audit log.
import { ApiKeys } from './ApiKeys.tsx';
import { AuditLog } from './AuditLog.tsx';

export function AdminPage() {
  return (
    <section class="page" aria-labelledby="admin-title">
      <header class="page-header">
        <h1 id="admin-title">Administration</h1>
      </header>
      <ApiKeys />
      <AuditLog />
    </section>
  );
}
