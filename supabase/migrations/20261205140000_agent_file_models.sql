-- The models that published agent files name (`model: opus`, dated Claude 4 ids, Haiku 3.5), priced exactly
-- as their provider charges, in integer micro-dollars per million tokens, like the rest of the catalog.
insert into staffroom.models (id, provider, max_output_tokens, input_per_million, output_per_million, cached_input_per_million) values
  ('claude-sonnet-4-0', 'anthropic', 64000, 3000000, 15000000, 300000),
  ('claude-opus-4-1', 'anthropic', 32000, 15000000, 75000000, 1500000),
  ('claude-3-5-haiku-latest', 'anthropic', 8192, 800000, 4000000, 80000);
