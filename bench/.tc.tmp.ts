import { trackCostSection } from './track-cost';
console.log(await trackCostSection('/work/wt/sdk-core'));
