import type { FastifyInstance } from 'fastify';
import { Type } from '@sinclair/typebox';
import { ErrorBody } from '../../shared/schemas.js';
import { ApiError } from '../errors.js';
import { SIGNATURE_HEADER } from '../webhooks/signature.js';
import type { ApiDeps } from './server.js';

const SigningSecrets = Type.Object({
  header: Type.String(),
  secrets: Type.Array(Type.String(), { description: 'active signing secrets; the first signs, all produce a v1 entry' }),
});

export function webhookRoutes(app: FastifyInstance, deps: ApiDeps) {
  // Receivers need the secret to verify signatures. An admin token can already send
  // webhooks anywhere and read every task, so showing it to admins gives nothing away;
  // read-only tokens do not see it.
  app.get(
    '/api/webhooks/signing-secrets',
    {
      schema: {
        summary: 'The secrets webhook signatures are made with (admin tokens only); see docs/webhooks.md',
        tags: ['webhooks'],
        response: { 200: SigningSecrets, 403: ErrorBody },
      },
    },
    async (req) => {
      if (req.principal?.scope === 'read') throw new ApiError('FORBIDDEN', 'signing secrets are shown to admin tokens only');
      return { header: SIGNATURE_HEADER, secrets: [...(deps.webhookSecrets ?? [])] };
    },
  );
}
