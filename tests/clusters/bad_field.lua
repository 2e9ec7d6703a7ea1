-- bad_field.lua: a typo in a top-level field.
return { name = "bad-field", servces = {} }
