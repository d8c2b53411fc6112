// The logging billing needs: a pino-compatible subset, so the app's logger plugs in unchanged.
export interface BillingLogger {
  info(fields: Record<string, unknown>, message: string): void;
  warn(fields: Record<string, unknown>, message: string): void;
  error(fields: Record<string, unknown>, message: string): void;
}

export const silentBillingLogger: BillingLogger = { info: () => undefined, warn: () => undefined, error: () => undefined };
