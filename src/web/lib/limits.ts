// The limits the UI checks before asking the server. They are literal types in the shared
// schema module (`as const`); annotating each constant with that type makes the compiler
// fail if the server's limit changes, without bundling TypeBox into the UI.
import type { LIMITS as ServerLimits } from '../../shared/schemas';

export const LIMITS: Pick<typeof ServerLimits, 'nameMaxLength' | 'payloadMaxBytes' | 'previewMaxCount' | 'pageMaxLimit'> = {
  nameMaxLength: 200,
  payloadMaxBytes: 64 * 1024,
  previewMaxCount: 50,
  pageMaxLimit: 500,
};
