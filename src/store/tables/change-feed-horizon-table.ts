import type { Selectable } from "kysely";

/**
 * One row (id = 1): the highest change-feed seq that pruning has deleted. A follower whose last
 * seen seq is below it may have missed changes and must reset its caches instead.
 */
export interface ChangeFeedHorizonTable {
  id: number;
  pruned_through: number;
}

export type ChangeFeedHorizonRow = Selectable<ChangeFeedHorizonTable>;
