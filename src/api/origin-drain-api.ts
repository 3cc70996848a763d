// `POST /api/v1/origins/<server>/drain` and `/undrain`: a draining origin takes no new streams while
// the ones it carries continue (rolling upgrades: drain → wait for zero relays → restart → undrain).
// Protected by the register token like every admin call.
import { available, requireToken } from './system-api.js';
import { HttpError, sendJson } from '../net/http-util.js';
import type { Methods, RouteContext } from '../net/router.js';

export interface DrainControl {
  /** False when no origin has this server id. */
  drain(serverId: string): Promise<boolean>;
  undrain(serverId: string): Promise<boolean>;
}

const ACTIONS = ['drain', 'undrain'] as const;

/** The POST method of the `/api/v1/origins/` prefix route. */
export function originDrainMethods(control: DrainControl, registerToken: string | undefined): Methods {
  return {
    POST: async (ctx: RouteContext) => {
      requireToken(registerToken, ctx);
      const slash = ctx.rest.lastIndexOf('/');
      const action = ctx.rest.slice(slash + 1);
      if (slash <= 0 || !(ACTIONS as readonly string[]).includes(action)) {
        throw new HttpError(404, 'expected POST /api/v1/origins/<server id>/drain or /undrain');
      }
      let serverId: string;
      try {
        serverId = decodeURIComponent(ctx.rest.slice(0, slash));
      } catch {
        throw new HttpError(400, 'invalid percent-encoding in server id');
      }
      const done = action === 'drain' ? control.drain(serverId) : control.undrain(serverId);
      if (!(await available(done))) throw new HttpError(404, `no origin with server id ${serverId.slice(0, 256)}`);
      ctx.log.info({ server: serverId, action }, `origin ${action}ed by API`);
      sendJson(ctx.res, 200, { code: 0, server: serverId, draining: action === 'drain' });
    },
  };
}
