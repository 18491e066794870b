// Feedback surveys: NPS, CSAT and CES answers as `Survey Responded` events that analysts can turn into
// scores in ClickHouse. Out-of-range scores are refused with a debug message.
import type { PluginApi, TagflowPlugin } from '../core/plugin';

export type SurveyType = 'nps' | 'csat' | 'ces';

/** Each survey's scale: NPS 0–10, CSAT 1–5, CES 1–7. */
export const surveyScales: Record<SurveyType, [min: number, max: number]> = { nps: [0, 10], csat: [1, 5], ces: [1, 7] };

/** Why a score is refused, or undefined when it is a whole number on the survey's scale. */
export function scoreProblem(type: SurveyType, score: unknown): string | undefined {
  const [min, max] = surveyScales[type];
  if (typeof score === 'number' && Number.isInteger(score) && score >= min && score <= max) return undefined;
  return `${type} score must be a whole number from ${min} to ${max}, got ${String(score)}`;
}

type Answer = (score: number, comment?: string) => boolean;

export interface FeedbackPlugin extends TagflowPlugin {
  /** Net Promoter Score answer, 0–10. Returns false (and logs) when refused. */
  nps: Answer;
  /** Customer satisfaction, 1–5. */
  csat: Answer;
  /** Customer effort score, 1–7. */
  ces: Answer;
}

/** The feedback plugin: `tagflow.use(feedback)`, then `feedback.nps(9, 'fast delivery')`. */
export function feedbackPlugin(): FeedbackPlugin {
  let api: PluginApi | undefined;
  const answer = (type: SurveyType): Answer => (score, comment) => {
    const problem = scoreProblem(type, score);
    if (problem || !api) {
      api?.log('survey answer refused:', problem);
      return false;
    }
    const [scale_min, scale_max] = surveyScales[type];
    api.tagflow.track('Survey Responded', {
      survey_type: type,
      score,
      scale_min,
      scale_max,
      ...(typeof comment === 'string' && comment ? { comment: comment.slice(0, 2000) } : {}),
      url: location.href,
      path: location.pathname,
      title: document.title,
    });
    return true;
  };
  return {
    name: 'feedback',
    setup(a) {
      api = a;
    },
    nps: answer('nps'),
    csat: answer('csat'),
    ces: answer('ces'),
  };
}
