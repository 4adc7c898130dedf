# coding: utf-8
# Chapter 4 in the book's style: numerical gradients and gradient descent on f(x0, x1) = x0**2 + x1**2.
import numpy as np
from tinygrad_edu.book import gradient_descent, numerical_gradient


def function_2(x):
    return x[0]**2 + x[1]**2


print(numerical_gradient(function_2, np.array([3.0, 4.0])))
print(numerical_gradient(function_2, np.array([0.0, 2.0])))
print(numerical_gradient(function_2, np.array([3.0, 0.0])))

init_x = np.array([-3.0, 4.0])
x = gradient_descent(function_2, init_x=init_x, lr=0.1, step_num=100)
print(x)

# a learning rate too large diverges, one too small hardly moves
x_large = gradient_descent(function_2, init_x=np.array([-3.0, 4.0]), lr=10.0, step_num=100)
x_small = gradient_descent(function_2, init_x=np.array([-3.0, 4.0]), lr=1e-10, step_num=100)
print(x_large)
print(x_small)

x_end, x_history = gradient_descent(function_2, np.array([-3.0, 4.0]), lr=0.1, step_num=20,
                                    return_history=True)
print(x_history.shape)
