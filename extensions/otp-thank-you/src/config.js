// Where the codverify backend lives: the same public https origin as the server's APP_URL and the
// URLs in shopify.app.toml. Replace the placeholder before `shopify app deploy` (the same
// find-and-replace that fills in shopify.app.toml covers it). No trailing slash.
export const APP_URL = 'https://codverify.example.com';
