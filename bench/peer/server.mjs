// node-oidc-provider with one confidential client allowed the client-credentials grant; prints
// "listening <port>" once it accepts connections. Usage: node server.mjs <port>
import Provider from 'oidc-provider';

const port = Number(process.argv[2] || 0);
const issuer = `http://127.0.0.1:${port}`;
const provider = new Provider(issuer, {
  clients: [{
    client_id: 'bench',
    client_secret: 'bench-secret-0123456789abcdefghijklmnopqrstuv',
    grant_types: ['client_credentials'],
    response_types: [],
    redirect_uris: [],
    scope: 'api',
  }],
  features: { clientCredentials: { enabled: true }, devInteractions: { enabled: false } },
  scopes: ['api'],
});
provider.proxy = false;
const server = provider.listen(port, '127.0.0.1', () => {
  process.stdout.write(`listening ${server.address().port}\n`);
});
