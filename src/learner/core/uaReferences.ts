// Reference user agents: generic, public user-agent strings of well-known browser and client
// families, written for proflag (no traffic, no person behind them). They give the learner's
// user-agent families readable names ("UA family like Go-http-client") and are the only user-agent
// *strings* a proposal may carry in `userAgent.similarTo` (CONTRACT §3 wants real strings; raw
// strings from traffic are never kept). The family names are what the explain sentence shows.

export interface ReferenceUserAgent {
  /** Stable, lower-case id used as the family id. */
  readonly id: string;
  /** Readable family name. */
  readonly label: string;
  readonly userAgent: string;
}

export const REFERENCE_USER_AGENTS: readonly ReferenceUserAgent[] = Object.freeze([
  {
    id: 'chrome-windows',
    label: 'Chrome on Windows',
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  },
  {
    id: 'chrome-macos',
    label: 'Chrome on macOS',
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  },
  {
    id: 'chrome-linux',
    label: 'Chrome on Linux',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36',
  },
  {
    id: 'chrome-android',
    label: 'Chrome on Android',
    userAgent:
      'Mozilla/5.0 (Linux; Android 10; K) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36',
  },
  {
    id: 'edge-windows',
    label: 'Edge on Windows',
    userAgent:
      'Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0',
  },
  {
    id: 'firefox-windows',
    label: 'Firefox on Windows',
    userAgent: 'Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:127.0) Gecko/20100101 Firefox/127.0',
  },
  {
    id: 'firefox-linux',
    label: 'Firefox on Linux',
    userAgent: 'Mozilla/5.0 (X11; Linux x86_64; rv:127.0) Gecko/20100101 Firefox/127.0',
  },
  {
    id: 'firefox-macos',
    label: 'Firefox on macOS',
    userAgent: 'Mozilla/5.0 (Macintosh; Intel Mac OS X 10.15; rv:127.0) Gecko/20100101 Firefox/127.0',
  },
  {
    id: 'safari-macos',
    label: 'Safari on macOS',
    userAgent:
      'Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15',
  },
  {
    id: 'safari-iphone',
    label: 'Safari on iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  },
  {
    id: 'chrome-iphone',
    label: 'Chrome on iPhone',
    userAgent:
      'Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) CriOS/126.0.6478.54 Mobile/15E148 Safari/604.1',
  },
  {
    id: 'safari-ipad',
    label: 'Safari on iPad',
    userAgent:
      'Mozilla/5.0 (iPad; CPU OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1',
  },
  {
    id: 'samsung-internet',
    label: 'Samsung Internet',
    userAgent:
      'Mozilla/5.0 (Linux; Android 14; SAMSUNG SM-S918B) AppleWebKit/537.36 (KHTML, like Gecko) SamsungBrowser/25.0 Chrome/121.0.0.0 Mobile Safari/537.36',
  },
  {
    id: 'headless-chrome',
    label: 'HeadlessChrome',
    userAgent:
      'Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/126.0.0.0 Safari/537.36',
  },
  {
    id: 'googlebot',
    label: 'Googlebot',
    userAgent: 'Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)',
  },
  {
    id: 'bingbot',
    label: 'bingbot',
    userAgent: 'Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)',
  },
  { id: 'curl', label: 'curl', userAgent: 'curl/8.5.0' },
  { id: 'wget', label: 'Wget', userAgent: 'Wget/1.21.4' },
  { id: 'python-requests', label: 'python-requests', userAgent: 'python-requests/2.32.3' },
  { id: 'python-urllib', label: 'Python-urllib', userAgent: 'Python-urllib/3.12' },
  { id: 'aiohttp', label: 'Python aiohttp', userAgent: 'Python/3.12 aiohttp/3.9.5' },
  { id: 'scrapy', label: 'Scrapy', userAgent: 'Scrapy/2.11.2 (+https://scrapy.org)' },
  { id: 'go-http-client', label: 'Go-http-client', userAgent: 'Go-http-client/2.0' },
  { id: 'okhttp', label: 'okhttp', userAgent: 'okhttp/4.12.0' },
  { id: 'java', label: 'Java HttpClient', userAgent: 'Java-http-client/21.0.3' },
  { id: 'apache-httpclient', label: 'Apache-HttpClient', userAgent: 'Apache-HttpClient/5.3.1 (Java/21.0.3)' },
  { id: 'axios', label: 'axios', userAgent: 'axios/1.7.2' },
  { id: 'node-fetch', label: 'node-fetch', userAgent: 'node-fetch/1.0 (+https://github.com/bitinn/node-fetch)' },
  { id: 'postman', label: 'PostmanRuntime', userAgent: 'PostmanRuntime/7.39.0' },
]);
