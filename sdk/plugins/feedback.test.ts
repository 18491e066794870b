import { describe, expect, it } from 'vitest';
import { createPluginHost } from '../../test/support/plugin-host';
import { feedbackPlugin, scoreProblem } from './feedback';

describe('feedback', () => {
  it('checks each scale', () => {
    expect(scoreProblem('nps', 0)).toBeUndefined();
    expect(scoreProblem('nps', 10)).toBeUndefined();
    expect(scoreProblem('nps', 11)).toBe('nps score must be a whole number from 0 to 10, got 11');
    expect(scoreProblem('csat', 0)).toMatch(/from 1 to 5/);
    expect(scoreProblem('ces', 7)).toBeUndefined();
    expect(scoreProblem('ces', 3.5)).toMatch(/whole number/);
    expect(scoreProblem('csat', '4')).toMatch(/got 4/);
  });

  it('sends Survey Responded with type, score, scale, comment and page; refuses out of range with a debug message', () => {
    const host = createPluginHost();
    const feedback = feedbackPlugin();
    host.use(feedback);
    expect(feedback.nps(9, 'fast delivery')).toBe(true);
    expect(feedback.csat(6)).toBe(false);
    expect(feedback.ces(2)).toBe(true);
    expect(host.names()).toEqual(['Survey Responded', 'Survey Responded']);
    expect(host.queued[0]?.properties).toMatchObject({ survey_type: 'nps', score: 9, scale_min: 0, scale_max: 10, comment: 'fast delivery', path: location.pathname });
    expect(host.queued[1]?.properties).toMatchObject({ survey_type: 'ces', score: 2, scale_min: 1, scale_max: 7 });
    expect(host.logs).toEqual(['survey answer refused: csat score must be a whole number from 1 to 5, got 6']);
  });
});
