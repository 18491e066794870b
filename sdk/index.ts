// The npm entry: named exports only, so bundlers keep just what an app imports.
export { createTagflow } from './core/create';
export { TagflowOptionsError } from './core/options';
export type { DeliveryPolicy, PluginApi, TagflowPlugin } from './core/plugin';
export type { DropCounts, Tagflow, TagflowEvent, TagflowOptions, EventContext, EventType, Properties } from './core/types';
