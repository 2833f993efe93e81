// The atomic change path (TEAM.md interface 3), in one import:
//
//   const client = createRedisClient(config, { role: 'console' });   // src/store/redisConnection.ts
//   const changes = new FlagChanges(client, config.prefix);
//   await changes.setEnabled('checkout-v2', false, { actor: 'console' });
//   await changes.update('checkout-v2', (doc) => ..., { actor: 'guardrail', reason: 'guardrail', detail });
//   const history = await changes.reads.audit(20);
export { ChangeRefused, type ChangeRefusal } from './changeError.js';
export {
  FlagChanges,
  type ApproveOptions,
  type ChangeResult,
  type FlagChangesOptions,
  type ImportOptions,
  type ImportResult,
  type UpdateOptions,
  type UpdateResult,
} from './flagChanges.js';
export {
  FlagReads,
  type AuditEntry,
  type ExportDocument,
  type StoredFlag,
  type StoredProposal,
  type StoredText,
} from './flagReads.js';
export type { ChangeContext } from './luaScripts.js';
export type { FlagDocument } from './validation.js';
