/** Tag pages (src/registry/listing.ts): lexical pages with n/last, and the next-page Link read from an upstream. */
import { expect, test } from "bun:test";
import { nextTagsLink, pageTags, parseNextTagsLink } from "../../src/registry/listing.ts";

test("pages are lexical, after `last`, at most `n`; the last page has no next", () => {
  expect(pageTags(["t3", "t1", "t2"], null, null)).toEqual({ tags: ["t1", "t2", "t3"] });
  expect(pageTags(["t3", "t1", "t2"], "2", null)).toEqual({ tags: ["t1", "t2"], next: "t2" });
  expect(pageTags(["t3", "t1", "t2"], "2", "t2")).toEqual({ tags: ["t3"] });
  expect(pageTags(["t1"], "0", null)).toEqual({ tags: [] });
  expect(() => pageTags(["t1"], "-1", null)).toThrow("n must be a non-negative integer");
});

test("an upstream's Link is read for its n and last, whatever its path; anything else is no next page", () => {
  expect(parseNextTagsLink('</v2/library/x/tags/list?n=2&last=b>; rel="next"')).toEqual({ n: "2", last: "b" });
  expect(parseNextTagsLink("<https://up.example/v2/x/tags/list?last=a%2Fb&n=10>; rel=next")).toEqual({ n: "10", last: "a/b" });
  for (const bad of [null, "", "garbage", '</v2/x/tags/list?n=2>; rel="next"', '</v2/x/tags/list?n=x&last=b>; rel="next"', '</v2/x/tags/list?n=2&last=b>; rel="prev"'])
    expect(parseNextTagsLink(bad)).toBeNull();
  expect(nextTagsLink("mirror/up/x", "2", "a b")).toBe('</v2/mirror/up/x/tags/list?n=2&last=a%20b>; rel="next"');
});
