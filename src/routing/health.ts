// The hooks through which origin health and load reach the pick policy. Routing only asks; whoever
// knows (active probes, drain requests, heartbeat summaries, relay counts) answers by implementing
// OriginHealth. Without such an implementation every origin is up and equally loaded.
import type { Origin } from '../balancer/origin.js';

/**
 * How an origin stands for routing:
 * - `up`: takes new streams and keeps its pins;
 * - `suspect`: failing checks but not yet declared down; takes no new streams while an `up` origin
 *   exists, and keeps the pins of streams with live relays (so an origin flapping between verdicts
 *   does not make a live stream bounce between origins);
 * - `draining`: takes no new streams; streams with live relays keep their pin;
 * - `down`: takes no new streams; its pins move on next use whenever another origin can take them.
 */
export type HealthState = 'up' | 'suspect' | 'draining' | 'down';

export interface OriginHealth {
  /** The origin's standing at `now` (ms since the epoch, the balancer's clock). */
  state(origin: Origin, now: number): HealthState;
  /**
   * Load score for power-of-two-choices: of two random candidates the lower score gets a new stream.
   * Any finite number; equal scores (the default 0 for all) make picks uniformly random.
   */
  loadOf(origin: Origin): number;
  /**
   * A new stream was just placed on the origin. Load reports and relay counts lag (a WHIP session
   * becomes a relay only when its media arrives; counts are re-read on a timer), and with stale loads
   * power-of-two-choices would send a burst of new streams all to the same origin: implementations
   * count recent placements in the load until the slower signals catch up.
   */
  noteNewStream?(origin: Origin, now: number): void;
}

/** No health information: every origin up, every load equal (picks are uniform). */
export const EVERY_ORIGIN_UP: OriginHealth = {
  state: () => 'up',
  loadOf: () => 0,
};
