/**
 * The audit writer moved to `audit/audit-writer.ts`, outside `server/`, so that `control/` may use
 * it. This re-export serves the one importer not moved yet (`control/saga-support.ts`); delete it
 * when that import points at `../audit/audit-writer.js`.
 */
export { auditRecordOf, writeAudit, type AuditEntry } from '../audit/audit-writer.js';
