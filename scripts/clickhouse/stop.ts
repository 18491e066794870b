// `npm run clickhouse:stop`: stop the project-local ClickHouse that `npm start`/`npm test` left running.
import { stopLocalClickHouse } from './server';

const stopped = await stopLocalClickHouse();
console.log(stopped ? '[tagflow] ClickHouse stopped' : '[tagflow] no project-local ClickHouse is running');
