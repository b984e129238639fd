CREATE MATERIALIZED VIEW nexmark_q10 AS
SELECT auction, bidder, price, date_time,
       to_char(date_time, 'YYYY-MM-DD') AS date,
       to_char(date_time, 'HH24:MI') AS time
FROM bid;
