// Entry of the browser build (dist/browser/tagflow.min.js) that the snippet loads: it creates the
// instance from the snippet's settings, replaces the stub with it and replays the queued calls in order.
import { createTagflow } from '../core/create';
import type { Tagflow } from '../core/types';
import { replay, type SnippetQueue } from './queue';

const w = window as Window & { tagflow?: SnippetQueue | Tagflow };
const stub = w.tagflow as SnippetQueue | undefined; // or the instance, when this file is loaded twice: it has no config
if (stub?.config) {
  try {
    const instance = createTagflow(stub.config); // other options (debug, batchSize, …) may ride along
    w.tagflow = instance;
    replay(instance, stub);
  } catch (error) {
    console.error(error);
  }
}
