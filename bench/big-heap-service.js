// A service whose heap snapshot is large (about 300 MB of JSON with the defaults): a catalogue
// of records built at start-up, then a route that does a little work per request. Used by
// bench/run-overhead.sh to measure leakcheck's memory while a big snapshot streams in.
'use strict';
const http = require('node:http');

const RECORDS = Number(process.env.RECORDS || 600000);
class Product {
  constructor(i) {
    this.sku = `SKU-${i}`;
    this.title = `Product number ${i} with a descriptive title`;
    this.tags = ['catalogue', `group-${i % 97}`];
    this.price = { amount: (i % 1000) + 0.99, currency: 'EUR' };
  }
}
const catalogue = new Map();
for (let i = 0; i < RECORDS; i++) catalogue.set(`SKU-${i}`, new Product(i));

let served = 0;
http
  .createServer((req, res) => {
    if (req.url === '/health') return res.end('ok');
    const sku = `SKU-${served++ % RECORDS}`;
    const product = catalogue.get(sku);
    res.setHeader('content-type', 'application/json');
    res.end(JSON.stringify({ sku, title: product.title }));
  })
  .listen(Number(process.env.PORT), '127.0.0.1');
