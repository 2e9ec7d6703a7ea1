return { name = "x" }
