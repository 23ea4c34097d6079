import ArgumentParser
print("cityeye: not built yet")
