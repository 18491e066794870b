import type { Metric } from 'web-vitals';
import { describe, expect, it } from 'vitest';
import { vitalsProperties } from './vitals';

const metric = (name: Metric['name'], value: number, rating: Metric['rating']) => ({ name, value, rating }) as Metric;

describe('vitalsProperties', () => {
  it('flattens metrics into rounded values and ratings', () => {
    expect(vitalsProperties([metric('LCP', 1234.56, 'good'), metric('CLS', 0.123456, 'needs-improvement'), metric('INP', 301, 'poor')])).toEqual({
      lcp: 1235, lcp_rating: 'good', cls: 0.123, cls_rating: 'needs-improvement', inp: 301, inp_rating: 'poor',
    });
  });
});
