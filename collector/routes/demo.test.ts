// The rendered snippet must stay one well-formed script whatever the settings contain.
import { describe, expect, it } from 'vitest';
import { renderSnippet } from './demo';

describe('renderSnippet', () => {
  it("keeps replacement patterns ($', $`, $&) in a value literal, so a Host header cannot break out of the script", () => {
    const endpoint = "http://x$`y$'z$&";
    const snippet = renderSnippet({ writeKey: 'wk', endpoint, src: `${endpoint}/sdk/tagflow.min.js` });
    expect(() => new Function(snippet)).not.toThrow();
    expect(snippet).toContain(JSON.stringify(endpoint));
  });

  it('escapes < so a value cannot close the surrounding script element', () => {
    const snippet = renderSnippet({ writeKey: '</script><script>alert(1)</script>', endpoint: 'http://x', src: 'http://x/s.js' });
    expect(snippet).not.toContain('</script>');
  });
});
